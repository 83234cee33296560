"""`crm-mock serve` options from a file, so a team keeps its mock's set-up under version control
(as WireMock and Mockoon keep theirs): `crm-mock.toml` in the working directory, else the
`[tool.crm-mock]` table of its `pyproject.toml`, else the file `crm-mock --config FILE` names.

A key is an option's long name (`seed-data = 100`, `seed_data` too; `load = ["world.json"]` for a
repeatable one). Command-line flags win over the file, and the environment variables the options
read (`CRM_MOCK_KEYS`, `CRM_MOCK_ADMIN_KEY`) over it too; the file wins over the defaults. Paths in
the file are relative to the file. An unknown key or a bad value stops the start (exit 2) naming
the key and the file. Click's `default_map` carries the values: click then treats them exactly as
defaults, which is the precedence wanted, and converts and checks them with the options' own types.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import click

FILE_NAME = "crm-mock.toml"
PATH_OPTIONS = {"keys", "scenario", "world_files"}  # values that are paths, relative to the file


class ConfigError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"crm-mock: {self.format_message()}", err=True)


def find(explicit: str | None, where: Path | None = None) -> tuple[Path, dict] | None:
    """The settings file in effect and its table of `serve` options, or None."""
    where = where or Path.cwd()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {explicit}: no such file")
        return path, _table(path, tool=path.name == "pyproject.toml")
    if (where / FILE_NAME).is_file():
        return where / FILE_NAME, _table(where / FILE_NAME, tool=False)
    if (where / "pyproject.toml").is_file():
        table = _table(where / "pyproject.toml", tool=True)
        if table:
            return where / "pyproject.toml", table
    return None


def _table(path: Path, tool: bool) -> dict:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not TOML ({error})") from None
    table = document.get("tool", {}).get("crm-mock", {}) if tool else document
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.crm-mock] must be a table")
    return table


def defaults(command: click.Command, path: Path, table: dict) -> dict:
    """The table as `command`'s default_map: keys checked, paths made absolute, values converted."""
    options = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.expose_value:
            for opt in param.opts:
                if opt.startswith("--"):
                    options[opt[2:]] = options[opt[2:].replace("-", "_")] = param
    ctx = click.Context(command)
    out: dict = {}
    for key, value in table.items():
        param = options.get(key)
        if param is None or param.name in ("print_config",):
            raise ConfigError(f"{path}: {key}: unknown key; the keys are serve's options: "
                              f"{', '.join(sorted(k for k in options if '_' not in k and k != 'print-config'))}")
        if param.multiple and not isinstance(value, list):
            raise ConfigError(f"{path}: {key}: a list (e.g. {key} = [\"...\"])")
        if param.name in PATH_OPTIONS:
            value = [_beside(path, v) for v in value] if param.multiple else _beside(path, value)
        try:
            out[param.name] = param.type_cast_value(ctx, value)
        except click.BadParameter as error:
            raise ConfigError(f"{path}: {key}: {error.message}") from None
    return out


def _beside(path: Path, value):
    if not isinstance(value, str):
        return value
    from mock_server.world_files import split_source

    vendor, rest = split_source(value)  # --load VENDOR:FILE: the file is the path
    return f"{vendor}:{path.parent / rest}" if vendor else str(path.parent / value)
