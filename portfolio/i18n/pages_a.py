"""Labels of the app pages owned by this module's area (see portfolio/i18n/__init__.py)."""

LABELS: dict[str, tuple[str, str]] = {}
