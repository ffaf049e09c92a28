"""Hình của bench/compare.py: vẽ bằng peft_course.report_plots (dùng chung với bài học), không cần màn hình."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from peft_course.report_plots import save_figures  # noqa: E402,F401
