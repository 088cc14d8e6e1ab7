"""Files in a chat: typed by content, bounded in size, stored under random names, served
only to the two parties and supervisors, never sniffed."""

from __future__ import annotations

from typing import Any

import aiohttp

from chat import frames
from tests.chat.conftest import SHOP, Stack, accept, open_visitor, ready, start_chat

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 60


def _form(data: bytes, name: str, content_type: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=content_type)
    return form


async def _upload(
    stack: Stack,
    session: dict[str, Any],
    data: bytes,
    name: str,
    client_id: str,
    content_type: str = "application/octet-stream",
) -> aiohttp.ClientResponse:
    return await stack.client.post(
        f"/chat/api/conversations/{session['conversation_id']}/attachments",
        params={"client_id": client_id},
        data=_form(data, name, content_type),
        headers={"Origin": SHOP, "X-Chat-Token": session["token"]},
    )  # fmt: skip


async def test_given_files_then_the_type_comes_from_the_content_and_limits_hold(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    # A PNG named like a PDF and sent as text: it is a PNG.
    response = await _upload(stack, session, PNG, "report.pdf", "f1", "text/plain")
    assert response.status == 201, await response.text()
    attachment = (await response.json())["message"]["attachment"]
    assert attachment["content_type"] == "image/png" and attachment["preview"] is True
    # A program named like an image: refused by its content.
    refused = await _upload(stack, session, EXE, "cat.png", "f2", "image/png")
    assert refused.status == 415
    assert (await refused.json())["error"] == "attachment-type-refused"
    too_big = await _upload(stack, session, PDF + b"x" * 5000, "big.pdf", "f3")
    assert too_big.status == 413
    # The same upload again (a retry): stored once.
    again = await _upload(stack, session, PNG, "report.pdf", "f1")
    assert again.status == 200
    assert (await again.json())["message"]["attachment"]["id"] == attachment["id"]
    chat = stack.services.chat
    assert chat is not None
    stored = list(chat.service.files.directory.iterdir())
    assert len(stored) == 1 and "report" not in stored[0].name  # random name, one copy


async def test_given_an_attachment_then_only_the_parties_and_supervisors_get_it(
    stack: Stack,
) -> None:
    await ready(stack, "alice", "bob")
    session = await start_chat(stack.client)
    other = await start_chat(stack.client, name="Other Visitor")
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    described = await stack.routing.describe_contact(contact_id)
    holder = next(n for n, c in stack.agents.items() if str(c.user_id) == described["agent_id"])
    stranger = "bob" if holder == "alice" else "alice"
    await accept(stack, holder, contact_id)
    pdf = await (await _upload(stack, session, PDF, "invoice.pdf", "p1")).json()
    png = await (await _upload(stack, session, PNG, "photo.png", "p2")).json()
    pdf_id, png_id = pdf["message"]["attachment"]["id"], png["message"]["attachment"]["id"]
    visitor_path = f"/chat/api/conversations/{session['conversation_id']}/attachments"

    mine = await stack.client.get(
        f"{visitor_path}/{pdf_id}", headers={"Origin": SHOP, "X-Chat-Token": session["token"]}
    )
    assert mine.status == 200 and await mine.read() == PDF
    assert mine.headers["Content-Type"] == "application/pdf"
    assert mine.headers["Content-Disposition"].startswith("attachment;")
    assert mine.headers["X-Content-Type-Options"] == "nosniff"
    image = await stack.client.get(
        f"{visitor_path}/{png_id}", headers={"Origin": SHOP, "X-Chat-Token": session["token"]}
    )
    assert image.headers["Content-Disposition"].startswith("inline;")  # previewable
    assert image.headers["Content-Type"] == "image/png"

    not_theirs = await stack.client.get(
        f"{visitor_path}/{pdf_id}", headers={"Origin": SHOP, "X-Chat-Token": other["token"]}
    )
    assert not_theirs.status == 404
    agent_path = f"/api/v1/chats/{contact_id}/attachments/{pdf_id}"
    for name, status in ((holder, 200), ("sam", 200), (stranger, 404)):
        response = await stack.client.get(agent_path, headers=stack.agents[name].bearer)
        assert response.status == status, name
    # The agent's own file reaches the visitor as a message with its attachment.
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    form = _form(PNG, "screenshot.png", "image/png")
    sent = await stack.client.post(
        f"/api/v1/chats/{contact_id}/attachments", params={"client_id": "ag1"}, data=form,
        headers=stack.agents[holder].bearer,
    )  # fmt: skip
    assert sent.status == 201, await sent.text()
    while True:
        frame = await visitor.until(frames.Message)
        if frame.attachment is not None and frame.from_ == "agent":
            break
    assert frame.attachment.content_type == "image/png" and frame.attachment.preview
    await visitor.close()
