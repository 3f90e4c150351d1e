"""The faults the emulator can inject into image requests (``Emulator.fault``): what each kind takes
and how it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .stand_in import b64 as _b64

if TYPE_CHECKING:
    from .plumbing import Handler

FAULTS: dict[str, set[str]] = {  # kind -> accepted params
    "status": {"status", "retry_after", "body"}, "sleeping": {"retry_after"}, "drop": set(),
    "garbage": set(), "html": {"status"}, "no_data": set(), "empty_data": set(),
    "bad_base64": set(), "latency": {"seconds"}, "url_missing": set(),
}


def answer_fault(h: Handler, kind: str, params: dict[str, Any], service: str, body: Any) -> bool:
    """Answer the request as the fault says; False when the normal answer should follow."""
    if kind in ("latency", "url_missing"):
        return False
    status = int(params.get("status", {"sleeping": 503, "html": 502}.get(kind, 500)))
    title = f"{status} {h.responses.get(status, ('Error',))[0]}"
    if kind == "drop":
        h.close_connection = True
    elif kind in ("status", "sleeping"):
        retry = params.get("retry_after", 1 if kind == "sleeping" else None)
        detail = ("Endpoint is sleeping and is now waking up; retry later" if kind == "sleeping"
                  else f"Emulated error: {title}")
        payload = params.get("body") if params.get("body") is not None else {"detail": detail}
        h.reply(status, payload, {} if retry is None else {"Retry-After": str(retry)})
    elif kind == "garbage":
        h.reply(200, b"<<this is not JSON>> \x00\xff", ctype="application/json")
    elif kind == "html":
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><hr>nginx</body></html>"
        h.reply(status, page, ctype="text/html")
    elif kind == "no_data":
        h.reply(200, {})
    elif kind == "empty_data":
        h.reply(200, {"image": ""} if service == "container" else {"data": []})
    elif kind == "bad_base64":
        junk = _b64(b"this is definitely not an image")
        fmt = body.get("response_format") if isinstance(body, dict) else None
        fmt = fmt if fmt in ("raw", "png", "jpeg", "jpg") else "png"
        h.reply(200, {"image": junk} if service == "container"
                else {"data": [{"b64_json": junk, "seed": 0, "response_format": fmt}]})
    return True
