// Cấu hình MathJax 3 cho mọi trang (nạp trước _vendor/mathjax/tex-mml-chtml.js, không dùng CDN).
// Trang Markdown: pymdownx.arithmatex bọc công thức trong \( \) và \[ \].
// Trang notebook: nbconvert giữ nguyên $...$ và $$...$$ trong HTML, nên cũng nhận các dấu này.
// MathJax tự bỏ qua <pre> và <code>, nên dấu $ trong mã và đầu ra văn bản không bị đụng tới.
//
// Trình hiển thị widget (@jupyter-widgets/html-manager) gọi API của MathJax 2
// (MathJax.Hub.Queue(["Typeset", MathJax.Hub, el])) để dựng công thức trong nhãn widget; MathJax.Hub dưới
// đây chuyển lời gọi đó sang MathJax 3 (trước khi MathJax nạp xong thì xếp hàng chờ).
(function () {
  var pending = [];
  function typesetLater(command) {
    var el = command && command[2];
    MathJax.startup.promise = MathJax.startup.promise.then(function () {
      return MathJax.typesetPromise(el ? [el] : undefined);
    });
  }
  window.MathJax = {
    tex: {
      inlineMath: [["\\(", "\\)"], ["$", "$"]],
      displayMath: [["\\[", "\\]"], ["$$", "$$"]],
      processEscapes: true,
      processEnvironments: true,
    },
    options: {
      ignoreHtmlClass: "tex2jax_ignore|mathjax_ignore",
      processHtmlClass: "tex2jax_process|mathjax_process|arithmatex",
      menuOptions: { settings: { explorer: false } },
    },
    startup: {
      ready: function () {
        MathJax.startup.defaultReady();
        MathJax.Hub = { Queue: typesetLater };
        pending.forEach(typesetLater);
      },
    },
    Hub: { Queue: function (command) { pending.push(command); } },
  };
})();
