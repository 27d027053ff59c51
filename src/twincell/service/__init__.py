"""TwinCell over HTTP: a FastAPI app wrapping the library (no logic of its own) and a browsable page.

>>> from twincell.model import default_model
>>> from twincell.service import create_app
>>> app = create_app(default_model(), token=None)  # doctest: +SKIP
"""

from twincell.errors import optional_import

# Without the service extra: a clear error naming it, not a bare ImportError from deep inside the app.
optional_import("fastapi", "service", "the TwinCell service")
optional_import("uvicorn", "service", "the TwinCell service")

from twincell.service.app import create_app  # noqa: E402
from twincell.service.limits import ServiceLimits  # noqa: E402

__all__ = ["ServiceLimits", "create_app"]
