// Bảng rộng hơn cột nội dung: cuộn ngang (stylesheets/extra.css), kèm một dòng gợi ý ngay trên bảng để người
// đọc biết còn cột bị khuất. Áp cho bảng trong notebook (.peft-table-scroll, hook bọc) và bảng Markdown
// (.md-typeset__scrollwrap của mkdocs-material). Tính lại khi đổi cỡ cửa sổ.
(function () {
  var HINT = "↔ Bảng rộng hơn cột: kéo (vuốt) ngang để xem hết các cột.";
  function mark() {
    document.querySelectorAll(".peft-table-scroll, .md-typeset__scrollwrap").forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("peft-overflowing", wide);
      var hint = box.previousElementSibling;
      var has = hint && hint.classList.contains("peft-scroll-hint");
      if (wide && !has) {
        hint = document.createElement("div");
        hint.className = "peft-scroll-hint";
        hint.textContent = HINT;
        box.parentNode.insertBefore(hint, box);
      } else if (!wide && has) {
        hint.remove();
      }
    });
  }
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
  if (document.fonts) document.fonts.ready.then(mark);
})();
