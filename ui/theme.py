"""War-room dark theme and how each severity and deadline state looks: glyph and text first, colour second."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from console.dto import IncidentStatus, Severity

# Severity is never shown by colour alone: each level has its own glyph and its name in text.
SEVERITY_GLYPH = {Severity.SEV1: "▲", Severity.SEV2: "◆", Severity.SEV3: "●", Severity.SEV4: "○"}
SEVERITY_NAME = {Severity.SEV1: "Critical", Severity.SEV2: "Major", Severity.SEV3: "Minor", Severity.SEV4: "Low"}
SEVERITY_COLOR = {
    Severity.SEV1: "#ff5c5c",
    Severity.SEV2: "#ffa94d",
    Severity.SEV3: "#ffd43b",
    Severity.SEV4: "#8ce99a",
}
STATUS_LABEL = {
    IncidentStatus.TRIGGERED: "Triggered",
    IncidentStatus.ACKNOWLEDGED: "Acknowledged",
    IncidentStatus.MITIGATING: "Mitigating",
    IncidentStatus.MONITORING: "Monitoring",
    IncidentStatus.RESOLVED: "Resolved",
}
BREACH_BG = "#7a1010"
BREACH_FG = "#ffffff"
WARN_FG = "#ffd43b"
DEMO_BG = "#f0b400"
MUTED_FG = "#8a94a6"

STYLESHEET = f"""
QMainWindow, QDockWidget {{ font-size: 10pt; }}
QDockWidget::title {{ background: #1b2230; padding: 4px 8px; font-weight: bold; }}
QTableView {{ gridline-color: #263042; selection-background-color: #2f4a7a; alternate-background-color: #161c27; }}
QHeaderView::section {{ background: #1b2230; color: #c9d1e0; padding: 4px; border: 0; border-right: 1px solid #263042; }}
QLabel#DemoBanner {{ background: {DEMO_BG}; color: #111; font-weight: bold; padding: 4px 10px; }}
QLabel#OfflineBanner {{ background: {BREACH_BG}; color: {BREACH_FG}; font-weight: bold; padding: 4px 10px; }}
QLabel#PanelHeader {{ font-weight: bold; padding: 4px 6px; }}
QLabel#DetailTitle {{ font-size: 14pt; font-weight: bold; }}
QLabel#FieldName {{ color: {MUTED_FG}; }}
QLabel#EmptyState {{ color: {MUTED_FG}; font-size: 12pt; }}
QToolBar {{ spacing: 4px; }}
QLabel#FailedUpdatesBanner {{ background: {BREACH_BG}; color: {BREACH_FG}; font-weight: bold; padding: 4px 10px; }}
QLabel#MitigationBanner {{ background: #8a5a00; color: #ffffff; font-weight: bold; padding: 4px 10px; }}
QLabel#MitigationBanner[expired="true"] {{ background: {BREACH_BG}; color: {BREACH_FG}; }}
QLabel#MitigationNotice {{ background: #8a5a00; color: #ffffff; padding: 4px 8px; }}
QLabel#SignOffStanding {{ font-weight: bold; }}
QLabel#SandboxNotice {{ background: {DEMO_BG}; color: #111; padding: 2px 8px; }}
QLabel[overdue="true"] {{ color: #ff6b6b; font-weight: bold; }}
"""


def severity_text(severity: Severity) -> str:
    """Return e.g. '▲ SEV1'."""
    return f"{SEVERITY_GLYPH[severity]} {severity.value}"


def apply_theme(app: QApplication) -> None:
    """Apply the Fusion style with a dark palette and the console's stylesheet."""
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#121821",
        QPalette.ColorRole.WindowText: "#dde3ee",
        QPalette.ColorRole.Base: "#0f141c",
        QPalette.ColorRole.AlternateBase: "#161c27",
        QPalette.ColorRole.ToolTipBase: "#1b2230",
        QPalette.ColorRole.ToolTipText: "#dde3ee",
        QPalette.ColorRole.Text: "#dde3ee",
        QPalette.ColorRole.Button: "#1b2230",
        QPalette.ColorRole.ButtonText: "#dde3ee",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#2f4a7a",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#74c0fc",
        QPalette.ColorRole.PlaceholderText: MUTED_FG,
    }
    for role, value in colors.items():
        palette.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c6678"))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
