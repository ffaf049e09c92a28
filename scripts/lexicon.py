"""Từ vựng dùng chung cho dữ liệu bài toán của khóa học và văn bản miền (domain text) để tiền huấn luyện.

Bài toán: phân loại cảm xúc của phản hồi sinh viên (tiêu cực / trung lập / tích cực).
Mỗi danh sách được chia cố định thành ba phần train / validation / test, để tập test kiểm tra
khả năng tổng quát hóa sang *từ* và *mẫu câu* mà lúc tinh chỉnh mô hình chưa từng thấy.
Văn bản miền (dùng khi tiền huấn luyện) chứa mọi tính từ, kể cả các từ bị giữ lại cho test,
nhưng trong những ngữ cảnh khác hẳn và không bao giờ có nhãn: đó là điều mô hình tiền huấn luyện
"mang sang" được, còn mô hình khởi tạo ngẫu nhiên thì không.
"""

from __future__ import annotations

# Chủ ngữ: điều sinh viên nhận xét. Không mang cảm xúc.
SUBJECTS = [
    "bài giảng", "môn học này", "thầy", "cô", "giảng viên", "trợ giảng", "bài tập về nhà",
    "đề thi giữa kỳ", "đề thi cuối kỳ", "giáo trình", "tài liệu tham khảo", "phòng học",
    "phòng thí nghiệm", "buổi thực hành", "buổi thảo luận", "cách chấm điểm", "slide bài giảng",
    "lịch học", "đồ án", "bài kiểm tra", "ví dụ minh họa", "phần mềm thực hành", "nhóm học tập",
    "giờ tiếp sinh viên", "câu hỏi ôn tập", "hệ thống học trực tuyến", "thư viện", "bài đọc",
    "tiết học", "khóa học", "chương trình học", "máy chiếu", "bài thuyết trình", "lời nhận xét của cô",
    "hướng dẫn làm bài", "diễn đàn của lớp",
]

# Tính từ tích cực và tiêu cực (đã kiểm tra: không từ nào là một phần của từ ở cực kia).
POSITIVE = [
    "dễ hiểu", "lý thú", "thú vị", "bổ ích", "rõ ràng", "tuyệt vời", "hấp dẫn", "sinh động",
    "chi tiết", "nhiệt tình", "tận tâm", "chu đáo", "hữu ích", "thiết thực", "gần gũi", "mạch lạc",
    "công bằng", "hợp lý", "sáng tạo", "tận tình", "truyền cảm hứng", "súc tích", "đầy đủ",
    "chất lượng", "chuyên nghiệp", "thân thiện", "cuốn hút", "xuất sắc", "ấn tượng", "hiệu quả",
    "thoải mái", "dễ tiếp thu", "gọn gàng", "tiện lợi", "lôi cuốn", "tỉ mỉ",
]
NEGATIVE = [
    "khó hiểu", "nhàm chán", "rối rắm", "lộn xộn", "quá tải", "khô khan", "sơ sài", "tẻ nhạt",
    "buồn ngủ", "nặng nề", "vô ích", "bất công", "khó chịu", "căng thẳng", "mơ hồ", "dài dòng",
    "thiếu sót", "lạc hậu", "ồn ào", "chật chội", "nóng bức", "cẩu thả", "qua loa", "tệ hại",
    "kém cỏi", "hời hợt", "rườm rà", "đáng thất vọng", "thiếu thực tế", "áp lực", "gò bó",
    "chậm chạp", "bất tiện", "lỗi thời", "khắt khe", "ngột ngạt",
]

# Sự kiện trung lập: thông tin, không khen không chê.
FACTS = [
    "có ba tín chỉ", "học vào sáng thứ Hai", "kéo dài mười lăm tuần", "dùng tiếng Việt",
    "có hai bài kiểm tra", "ở tòa nhà B", "bắt đầu lúc bảy giờ", "dành cho sinh viên năm hai",
    "thi theo hình thức tự luận", "có phần bằng tiếng Anh", "ở phòng 204", "chia thành bốn chương",
    "được nộp qua email", "tính điểm chuyên cần", "diễn ra vào buổi chiều", "dùng ngôn ngữ Python",
    "nghỉ một tuần giữa kỳ", "chiếm ba mươi phần trăm số điểm", "kết thúc vào tháng Sáu",
    "do khoa Toán phụ trách", "được cập nhật mỗi năm", "gồm mười hai bài", "học cùng lớp song song",
    "có lịch trên cổng thông tin", "được ghi hình lại", "được in thành sách", "có mã số CS101",
    "học theo nhóm năm người", "mở cửa đến tám giờ tối", "được đăng trên trang của khoa",
]

# Mẫu câu của bài toán. {s}: chủ ngữ; {p}: vị ngữ (tính từ, có thể kèm phó từ, hoặc sự kiện).
TEMPLATES = [
    "Em thấy {s} {p}.", "Theo em, {s} {p}.", "Nhìn chung {s} {p}.", "Mình nghĩ {s} {p}.",
    "Cá nhân em thấy {s} {p}.", "{S} {p}.", "Học kỳ này {s} {p}.", "Em muốn góp ý là {s} {p}.",
    "Thật lòng mà nói, {s} {p}.", "Sau mấy tuần học, em thấy {s} {p}.",
    "Bạn bè trong lớp đều nói {s} {p}.", "Em nhận xét rằng {s} {p}.",
    "Qua môn này, em thấy {s} {p}.", "Ý kiến của em: {s} {p}.",
]

# Phó từ chỉ mức độ cho vị ngữ tính từ ("" là không có phó từ).
INTENSIFIERS = ["", "", "rất", "khá", "thực sự", "vô cùng"]

# Nhãn theo thứ tự chỉ số (cùng thứ tự với UIT-VSFC: 0 tiêu cực, 1 trung lập, 2 tích cực).
LABELS = ["tiêu cực", "trung lập", "tích cực"]


def split3(items: list[str], n_val: int, n_test: int) -> dict[str, list[str]]:
    """Chia một danh sách cố định thành train / validation / test (phần cuối dành cho test).

    Việc chia theo vị trí (không ngẫu nhiên) để ai đọc mã cũng thấy ngay từ nào thuộc phần nào.
    """
    n_train = len(items) - n_val - n_test
    return {
        "train": items[:n_train],
        "validation": items[n_train:n_train + n_val],
        "test": items[n_train + n_val:],
    }


def vocabulary_split() -> dict[str, dict[str, list[str]]]:
    """Phân chia từ vựng và mẫu câu: mỗi tập validation/test giữ lại từ và mẫu câu riêng của nó."""
    return {
        "subjects": split3(SUBJECTS, 4, 4),
        "positive": split3(POSITIVE, 6, 6),
        "negative": split3(NEGATIVE, 6, 6),
        "facts": split3(FACTS, 5, 5),
        "templates": split3(TEMPLATES, 3, 3),
    }

# Bài toán thứ hai (bài 7): chủ đề của phản hồi, theo nhãn chủ đề của UIT-VSFC (bỏ nhãn "khác").
TOPIC_LABELS = ["giảng viên", "chương trình đào tạo", "cơ sở vật chất"]

# Chủ ngữ theo chủ đề; 10 cho train, 3 cho validation, 3 cho test (phần cuối, như split3).
# Mô hình nền không học được chủ đề của một từ khi tiền huấn luyện (văn bản miền dùng mọi chủ ngữ trong
# cùng các khung câu), nên chủ ngữ bị giữ lại là *cụm từ mới* dựng trên một danh từ chính mà train có
# ("phòng học lớn" ← "phòng học"): đo tổng quát hóa sang cụm từ chưa thấy, không đòi mô hình đoán nghĩa
# một từ nó chưa từng gặp.
TOPIC_SUBJECTS = {
    "giảng viên": [
        "thầy", "cô", "giảng viên", "trợ giảng", "thầy hướng dẫn", "cô chủ nhiệm", "giảng viên lý thuyết",
        "cách giảng của thầy", "giọng giảng của cô", "thái độ của giảng viên",
        "thầy dạy thực hành", "cô trợ giảng", "giảng viên mới",
        "cách dạy của cô", "thầy phụ trách lớp", "giảng viên thỉnh giảng",
    ],
    "chương trình đào tạo": [
        "môn học này", "giáo trình", "đề cương môn học", "đề thi cuối kỳ", "bài tập về nhà",
        "khung chương trình", "số tín chỉ của môn", "nội dung môn học", "đồ án môn học", "cách chấm điểm",
        "đề thi giữa kỳ", "chương trình học", "môn tự chọn",
        "nội dung chương trình", "môn học bắt buộc", "đề thi thực hành",
    ],
    "cơ sở vật chất": [
        "phòng học", "phòng thí nghiệm", "thư viện", "máy chiếu", "wifi của trường", "bàn ghế trong phòng",
        "hệ thống học trực tuyến", "phòng máy tính", "căng tin", "chỗ gửi xe",
        "phòng tự học", "máy tính trong thư viện", "nhà gửi xe",
        "phòng học lớn", "máy chiếu của lớp", "bãi gửi xe",
    ],
}


def topic_subject_split() -> dict[str, dict[str, list[str]]]:
    """Chủ ngữ của từng chủ đề chia train / validation / test (3 + 3 cụm từ cuối được giữ lại)."""
    return {topic: split3(words, 3, 3) for topic, words in TOPIC_SUBJECTS.items()}
