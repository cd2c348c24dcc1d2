"""Labels of the scheduled report (HTML, xlsx, Markdown)."""

LABELS: dict[str, tuple[str, str]] = {
    "report.title": ("工业投资与产业链缺口分析月报", "Monthly industrial investment and chain-gap report"),
}
