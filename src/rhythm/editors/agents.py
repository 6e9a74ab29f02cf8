"""The editor and operating system a WakaTime client names in its user agent (pure).

wakatime-cli sends `wakatime/<version> (<platform>) <runtime> <editor>/<version>
<plugin>/<version>`: the Go CLI's runtime is `go1.21.5` and its platform `linux-6.5.0-x86_64`;
the legacy Python CLI's are `Python3.9.18.final.0` and `Linux-5.15.0-...-with-glibc2.35`, and
it writes `Unknown/0` when no plugin named itself. Browser extensions send
`chrome/120.0 chrome-wakatime/4.0.0`.
"""

from __future__ import annotations

import re

UNKNOWN = "Unknown"
_CLI = re.compile(r"wakatime/\S*\s+\(([^)]*)\)\s+\S+\s*(.*)", re.ASCII | re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.+ -]{0,62}", re.ASCII)
EDITORS = {
    "vscode": "VS Code",
    "vim": "Vim",
    "neovim": "Neovim",
    "nvim": "Neovim",
    "emacs": "Emacs",
    "sublime_text": "Sublime Text",
    "sublime": "Sublime Text",
    "jetbrains": "JetBrains",
    "xcode": "Xcode",
    "chrome": "Chrome",
    "firefox": "Firefox",
    "edge": "Edge",
}
SYSTEMS = {"linux": "Linux", "darwin": "macOS", "macos": "macOS", "windows": "Windows"}


def _tool(token: str) -> str:
    name = token.partition("/")[0]
    if not _NAME.fullmatch(name) or name.lower() == "unknown":
        return UNKNOWN
    return EDITORS.get(name.lower(), name[0].upper() + name[1:])


def editor_and_os(user_agent: str) -> tuple[str, str]:
    """(editor, operating system) of a user agent, each "Unknown" where it does not say."""
    found = _CLI.match(user_agent.strip())
    if found is None:
        first = user_agent.split(maxsplit=1)
        return (_tool(first[0]) if first else UNKNOWN), UNKNOWN
    platform, plugins = found.groups()
    system = platform.split("-", 1)[0].strip().lower()
    if system.startswith("win"):
        system = "windows"
    os_name = SYSTEMS.get(system, system.capitalize() if _NAME.fullmatch(system) else UNKNOWN)
    tokens = plugins.split()
    return (_tool(tokens[0]) if tokens else UNKNOWN), os_name or UNKNOWN
