"""Reading a training config: a TOML file or a packaged config name, plus ``section.key=value``
overrides, parsed here only (``r2etl_core.train.config`` says what a config is).

Unknown sections or keys are errors that name the key, so a typo never silently trains with a
default; the parsed config is then checked as a whole (``config.validate``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.parse import brief, shown
from r2etl_core.train.config import TrainConfig, validate

SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``; InputError(key, ...) when it is another kind."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(key, f"must be true or false, got {shown(value)}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(default):
        kind = {int: "a whole number", float: "a number", str: "a string"}.get(type(default), type(default).__name__)
        raise InputError(key, f"must be {kind}, got {shown(value)}")
    return value


def config_from_dict(d: dict, where: str = "config", overridden: frozenset[str] = frozenset()) -> TrainConfig:
    """A checked config from TOML-shaped ``d``. A bad value is an InputError naming its key and
    the allowed range; ``where`` (the TOML file) is named too unless the key is in ``overridden``
    (it came from ``--set`` or a flag, so the file is not at fault)."""
    try:
        cfg = _build(d, where)
        validate(cfg)
    except InputError as exc:
        if exc.where == where or exc.where in overridden or where in ("config", "defaults"):
            raise
        raise InputError(where, f"{exc.where}: {exc.problem}") from None
    return cfg


def check_known_key(section: str, key: str, where: str) -> None:
    """InputError naming ``where`` when ``section.key`` is not a config key."""
    if section not in SECTIONS:
        raise InputError(where, f"unknown config section '{section}' (known: {', '.join(SECTIONS)})")
    known = [f.name for f in dataclasses.fields(SECTIONS[section])]
    if key not in known:
        raise InputError(where, f"unknown config key '{section}.{key}' (known in [{section}]: {', '.join(known)})")


def _build(d: dict, where: str) -> TrainConfig:
    sections = {}
    for name, value in d.items():
        if name not in SECTIONS:
            raise InputError(where, f"unknown config section '{name}' (known: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise InputError(where, f"'{name}' must be a [{name}] table")
        default = SECTIONS[name]()
        known = {f.name: getattr(default, f.name) for f in dataclasses.fields(default)}
        for key in value:
            if key not in known:
                raise InputError(where, f"unknown config key '{name}.{key}' (known in [{name}]: {', '.join(known)})")
        sections[name] = dataclasses.replace(
            default, **{k: _coerce(f"{name}.{k}", v, known[k]) for k, v in value.items()})
    return TrainConfig(**sections)


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value``; the value is parsed as TOML (so ``1e-3``, ``true``, ``"x"``), else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise InputError(text, "override must look like section.key=value, e.g. optim.lr=1e-3")
    path, raw = text.split("=", 1)
    section, key = path.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (ValueError, RecursionError):  # not a TOML value (TOMLDecodeError) or too many digits: a plain string
        value = raw
    return section, key, value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a TOML file (or a packaged config name like ``shared-nmnist``) and apply overrides."""
    d: dict = {}
    where = "defaults"
    if path is not None:
        text, where = _read_config_text(str(path))
        try:
            d = tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer with too many digits
            raise InputError(where, f"invalid TOML ({brief(exc)})") from None
        except RecursionError:  # arrays or tables nested thousands deep: no config looks like that
            raise InputError(where, "invalid TOML (nested too deeply)") from None
    overridden = set()
    for item in overrides:
        section, key, value = parse_override(item)
        check_known_key(section, key, f"--set {section}.{key}")  # the flag is at fault, not the recipe file
        if not isinstance(d.setdefault(section, {}), dict):
            raise InputError(where, f"'{section}' must be a [{section}] table")
        d[section][key] = value
        overridden.add(f"{section}.{key}")
    return config_from_dict(d, where, frozenset(overridden))


def _read_config_text(name: str) -> tuple[str, str]:
    """Text of a config file, or of the packaged config of that name. Anything that exists at
    the path (a folder, a pipe, an unreadable file) is reported as such, never as "not found"."""
    p = Path(name)
    if p.exists() or p.is_symlink():
        check_input_file(p, "config file", allow_empty=True)
        try:
            return p.read_text(encoding="utf-8"), str(p)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(p, f"cannot read config file ({brief(exc)})") from None
    packaged = resources.files("r2etl_core") / "configs" / (p.stem + ".toml")
    if packaged.is_file():
        return packaged.read_text(), f"r2etl_core/configs/{p.stem}.toml"
    raise InputError(name, f"config file not found (packaged configs: {', '.join(packaged_configs())})")


def packaged_configs() -> list[str]:
    folder = resources.files("r2etl_core") / "configs"
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml"))
