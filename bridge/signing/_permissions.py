"""Key and secret files readable by every user of the host: what ``bridge check`` warns about.

A GOST key, its password, the pseudonym key or a bot token in a file any local user can read is a key
any local user has. The check looks at the mode bits only (never at the content) and says which
setting names the file, so that the warning points at the fix::

    warnings = key_file_warnings(secret_files(settings.model_dump()))
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["SECRET_FILE_SUFFIXES", "key_file_warnings", "secret_files"]

SECRET_FILE_SUFFIXES = ("key_file", "password_file", "token_file", "secret_file", "guid_file")
"""Setting names (their endings) that hold the path of a secret: ``key_file``, ``pseudonym_key_file``,
``key_password_file``, ``token_file``, ``webhook_secret_file``, ``guid_file``."""


def secret_files(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Path]:
    """Every setting in ``tree`` (nested dicts and lists, e.g. ``Settings.model_dump()``) whose name
    ends like a secret file's, by its dotted name: ``{"adapter_settings.esia.login.signer.key_file": path}``."""
    found: dict[str, Path] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(secret_files(value, f"{name}."))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    found.update(secret_files(item, f"{name}[{index}]."))
        elif (isinstance(value, str | os.PathLike) and str(key).endswith(SECRET_FILE_SUFFIXES)
              and str(value).strip()):
            found[name] = Path(value)
    return found


def key_file_warnings(paths: Mapping[str, str | os.PathLike[str]] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """One warning per existing file that every user may read (or write), in the given order.

    ``paths``: the files, or ``{setting name: file}`` (see :func:`secret_files`) to name the setting in
    the warning. Missing files are not this check's business (loading the setting reports them).
    """
    named: list[tuple[str, Path]]
    if isinstance(paths, Mapping):
        named = [(f"{name}: ", Path(path)) for name, path in paths.items()]
    else:
        named = [("", Path(path)) for path in paths]
    warnings: list[str] = []
    for label, path in named:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            continue
        loose = [what for bit, what in ((stat.S_IROTH, "read"), (stat.S_IWOTH, "written")) if mode & bit]
        if loose:
            warnings.append(
                f"{label}{path}: can be {' and '.join(loose)} by every user of the host "
                f"(mode {stat.S_IMODE(mode):04o}); make it readable by the bridge's user only: "
                f"chmod 600 {path} (Kubernetes secret volume: defaultMode: 0400)"
            )
    return warnings
