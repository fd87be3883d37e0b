"""``ortdiffusion serve``: AUTOMATIC1111's web API (``/sdapi/v1``), OpenAI's images API (``/v1/images``) and a
web page, over the ONNX pipelines, for the applications that already speak them. Needs the ``[server]`` extra
(FastAPI, uvicorn). :func:`create_app` builds the application from :class:`ServerSettings`."""

from ortdiffusion.server.app import create_app
from ortdiffusion.server.settings import Limits, ServerSettings

__all__ = ["Limits", "ServerSettings", "create_app"]
