"""The input dialogs refuse what the command would refuse, before the operator presses OK."""
from __future__ import annotations

from PySide6.QtCore import Qt

from console.dto import PersonRef, PersonRole, Severity
from ui.dialogs import PersonPickerDialog, SeverityDialog, TextDialog


def test_severity_dialog_needs_a_different_severity_and_a_reason(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = SeverityDialog(current=Severity.SEV2)
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.reason, "scope widened to all tenants")
    assert dialog.severity() is Severity.SEV2
    assert not dialog.ok_button.isEnabled()  # same severity: nothing to change
    dialog.combo.setCurrentIndex(0)
    assert dialog.severity() is Severity.SEV1
    assert dialog.ok_button.isEnabled()
    dialog.reason.clear()
    assert not dialog.ok_button.isEnabled()  # a reason is required


def test_text_dialog_needs_text(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = TextDialog(title="Resolve INC-1", prompt="What fixed it?")
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.editor, "   ")
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.editor, "rolled back")
    assert dialog.ok_button.isEnabled() and dialog.text() == "rolled back"


def test_person_picker_filters_by_name_handle_or_role(qtbot) -> None:  # type: ignore[no-untyped-def]
    people = [PersonRef(1, "aosei", "Ama Osei", roles=frozenset({PersonRole.INCIDENT_COMMANDER})),
              PersonRef(2, "jwu", "Jessica Wu", roles=frozenset({PersonRole.RESPONDER})),
              PersonRef(3, "gmorris", "Grace Morris", roles=frozenset({PersonRole.SUPPORT_LEAD}))]
    dialog = PersonPickerDialog(people=people, title="Assign owner", prompt="Who?")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.filter, "support lead")
    assert dialog.person_id() == 3 and dialog.ok_button.isEnabled()
    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "nobody-matches")
    assert dialog.person_id() is None and not dialog.ok_button.isEnabled()
    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "jwu")
    qtbot.keyClick(dialog.filter, Qt.Key.Key_Return)  # type, then Enter: the quickest way to pick someone
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.person_id() == 2
