"""TwinCell over HTTP: a FastAPI app wrapping the library (no logic of its own) and a browsable page.

>>> from twincell.model import default_model
>>> from twincell.service import create_app
>>> app = create_app(default_model(), token=None)  # doctest: +SKIP
"""

from twincell.service.app import create_app
from twincell.service.limits import ServiceLimits

__all__ = ["ServiceLimits", "create_app"]
