"""Frozen modules a prompt module uses without owning them: out of `parameters()` and `state_dict()`, yet
moved by `.to()`, so a module's device is where all its tensors are."""
from __future__ import annotations

from torch import nn


class UsesFrozen(nn.Module):
    def use_frozen(self, name: str, obj) -> None:
        """Hold `obj` (a module, or anything with `frozen_modules()`, e.g. a Backbone) as `self.<name>`, unowned."""
        object.__setattr__(self, name, obj)
        object.__setattr__(self, "_frozen_names", (*getattr(self, "_frozen_names", ()), name))

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for name in getattr(self, "_frozen_names", ()):
            obj = getattr(self, name)
            for module in obj.frozen_modules() if hasattr(obj, "frozen_modules") else (obj,):
                module._apply(fn)  # moving a shared tower twice (a child holds it too) is a no-op the second time
        return self
