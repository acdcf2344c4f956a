"""The label bar: one button (and key) per class, "none", undo, and where the labels go.

Widgets only say what the user asked for (``labelChosen``, ``undoRequested``, ``editToggled``);
``app.labelling.Labeller`` decides what a mark means and tells the bar what to show. Keys are
window-wide shortcuts, so labelling needs no focus on the bar: a one-character class name is its
own key ("3"), others take 1-9, 0, then letters (``r2etl_core.io.label_editing.label_keys``).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QInputDialog, QLabel, QPushButton, QWidget

from app.views.palette import class_rgb
from r2etl_core.errors import InputError
from r2etl_core.io.label_editing import label_keys, parse_class_names

NONE_KEYS = ("Esc", "-")
UNDO_KEY = "Ctrl+Z"
MUTED = "#8a93a3"


class LabelBar(QWidget):
    labelChosen = Signal(object)  # a class name, or None for "none" (end the current segment)
    undoRequested = Signal()
    editToggled = Signal(bool)  # replay: edit the open recording's labels

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_names: tuple[str, ...] = ()
        self.custom_names: tuple[str, ...] | None = None  # typed in; None: the model's
        self.extra_names: tuple[str, ...] = ()  # labels the edited file has beyond those
        self.names: tuple[str, ...] = ()
        self.keys: tuple[str | None, ...] = ()
        self.buttons: list[QPushButton] = []
        self._shortcuts: list[QShortcut] = []
        self._active = False

        self.class_row = QHBoxLayout()
        self.class_row.setSpacing(3)
        self.none_button = QPushButton("none (Esc)")
        self.none_button.setToolTip("End the current label: what follows has no label (Esc or -)")
        self.none_button.clicked.connect(lambda: self.labelChosen.emit(None))
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip(f"Undo the last mark ({UNDO_KEY})")
        self.undo_button.clicked.connect(self.undoRequested)
        self.classes_button = QPushButton("Classes...")
        self.classes_button.setToolTip("Type the class names to label with (default: the model's)")
        self.classes_button.clicked.connect(self.ask_class_names)
        self.edit_check = QCheckBox("edit labels")
        self.edit_check.setToolTip("Change this recording's <name>.labels.csv with the keys above "
                                   "(saved after every mark; Ctrl+Z undoes)")
        self.edit_check.toggled.connect(self.editToggled)
        self.current_label = QLabel("")
        self.current_label.setMinimumWidth(150)
        self.status_label = QLabel("")
        self.status_label.setStyleSheet(f"color: {MUTED}")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("<b>Label</b>"))
        layout.addLayout(self.class_row)
        layout.addWidget(self.none_button)
        layout.addWidget(self.undo_button)
        layout.addWidget(self.current_label)
        layout.addStretch(1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.edit_check)
        layout.addWidget(self.classes_button)
        for key in NONE_KEYS:
            self._fixed_shortcut(key, lambda: self.labelChosen.emit(None))
        self._fixed_shortcut(UNDO_KEY, self.undoRequested.emit)
        self.set_active(False)

    def _fixed_shortcut(self, key: str, slot) -> None:
        QShortcut(QKeySequence(key), self, activated=slot)

    # -- classes -------------------------------------------------------------------------
    def set_model_classes(self, names: tuple[str, ...]) -> None:
        self.model_names = tuple(names)
        self._rebuild()

    def set_custom_classes(self, names: tuple[str, ...] | None) -> None:
        """Typed-in class names; None or () goes back to the model's."""
        self.custom_names = tuple(names) if names else None
        self._rebuild()

    def set_extra_classes(self, names) -> None:
        self.extra_names = tuple(names)
        self._rebuild()

    def ask_class_names(self) -> None:
        current = ", ".join(self.custom_names or self.model_names)
        text, ok = QInputDialog.getText(self, "Classes to label with",
                                        "Class names, separated by commas (empty: the model's):", text=current)
        if not ok:
            return
        try:
            self.set_custom_classes(parse_class_names(text))
        except InputError as exc:
            self.show_status(str(exc), error=True)

    def _rebuild(self) -> None:
        base = self.custom_names or self.model_names
        names = base + tuple(n for n in self.extra_names if n not in base)
        if names == self.names:
            return
        self.names, self.keys = names, label_keys(names)
        for widget in self.buttons:
            self.class_row.removeWidget(widget)
            widget.deleteLater()
        for shortcut in self._shortcuts:
            shortcut.setParent(None)
            shortcut.deleteLater()
        self.buttons, self._shortcuts = [], []
        for i, (name, key) in enumerate(zip(names, self.keys)):
            self.buttons.append(self._class_button(i, name, key))
            if key is not None:
                self._shortcuts.append(QShortcut(QKeySequence(key), self,
                                                 activated=lambda n=name: self.labelChosen.emit(n)))
        self.set_active(self._active)

    def _class_button(self, index: int, name: str, key: str | None) -> QPushButton:
        text = name if key == name.lower() else (f"{key} \u00b7 {name}" if key else name)
        button = QPushButton(text)
        button.setCheckable(True)
        button.setToolTip(f"Label what follows '{name}'" + (f" (key {key})" if key else ""))
        r, g, b = class_rgb(index)
        button.setStyleSheet(
            f"QPushButton {{ border: 1px solid #3a414d; border-bottom: 3px solid rgb({r},{g},{b}); "
            f"padding: 2px 7px; min-width: 14px; }} "
            f"QPushButton:checked {{ background: rgb({r},{g},{b}); color: #101318; font-weight: bold; }}")
        button.clicked.connect(lambda _=False, n=name: self.labelChosen.emit(n))
        self.class_row.addWidget(button)
        return button

    # -- what the labeller shows ---------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        """Buttons work only while marks go somewhere (recording, or editing a recording)."""
        self._active = active
        for widget in (*self.buttons, self.none_button, self.undo_button):
            widget.setEnabled(active)

    def show_edit_option(self, available: bool, checked: bool = False) -> None:
        self.edit_check.blockSignals(True)
        self.edit_check.setChecked(checked)
        self.edit_check.blockSignals(False)
        self.edit_check.setVisible(available)

    def show_current(self, label: str | None, held_s: float | None = None) -> None:
        """Check the current label's button and say for how long it has been marked."""
        for name, button in zip(self.names, self.buttons):
            button.setChecked(name == label)
        if label is None:
            self.current_label.setText(f"<span style='color:{MUTED}'>now: no label</span>")
        else:
            held = f" for {held_s:.1f} s" if held_s is not None else ""
            self.current_label.setText(f"now: <b>{label}</b>{held}")

    def show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {'#ff5a5a' if error else MUTED}")
