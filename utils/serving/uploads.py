"""An upload, as bytes and then as a decoded image: a raw body (``Content-Type: image/...`` or
``application/octet-stream``) or a ``multipart/form-data`` form with one file.

The body is read with a byte limit whatever ``Content-Length`` says (a chunked upload has none),
so an oversize upload is refused (413) before it is held in memory; the pixel limit
(``--max-pixels``) is checked from the image header before any pixel is decoded.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from utils.data.images import ImageLoadError, PixelLimitError, decode_image_bytes
from utils.serving.errors import bad_request, too_large


@dataclass
class Upload:
    data: bytes
    name: str | None  # the file name a form gave, None for a raw body


def _mb(limit: int) -> str:
    return f"{limit / 1e6:g} MB"


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(f"upload larger than the limit of {_mb(limit)} (--max-upload-mb)")
        yield chunk


async def read_upload(request: Request, limit: int) -> Upload:
    """The uploaded file's bytes (RequestError 413 above ``limit`` bytes, 400 for a malformed
    or empty form)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(
            f"upload of {int(declared) / 1e6:.1f} MB is larger than the limit of {_mb(limit)} "
            "(--max-upload-mb)"
        )
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _form_upload(request, limit)
    data = b"".join([chunk async for chunk in _limited(request, limit)])
    return Upload(data, None)


async def _form_upload(request: Request, limit: int) -> Upload:
    parser = MultiPartParser(
        request.headers, _limited(request, limit), max_files=1, max_fields=8, max_part_size=limit
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise bad_request(f"malformed multipart form: {exc.message}") from None
    try:
        files = [value for _, value in form.multi_items() if not isinstance(value, str)]
        if not files:
            raise bad_request("the multipart form holds no file (send the image as a file field)")
        upload = files[0]
        return Upload(await upload.read(), upload.filename)
    finally:
        await form.close()


def decode_upload(upload: Upload, reduce_for: tuple | None = None):
    """The upload as an RGB PIL image (or a reduced decode, see
    :func:`utils.data.images.load_image`); RequestError 400 (empty, not an image, truncated,
    corrupt) or 413 (more pixels than --max-pixels)."""
    name = upload.name or "upload"
    try:
        return decode_image_bytes(upload.data, name=name, reduce_for=reduce_for)
    except PixelLimitError as exc:
        raise too_large(str(exc)) from None
    except ImageLoadError as exc:
        raise bad_request(str(exc)) from None
