"""The aiohttp handler over 127.0.0.1, strictly: no downgrade to V2 where V3 is present, and a
signature moved to its Ma twin header is still a replay (issue 10, items 2 and 17)."""

from __future__ import annotations

import pytest

from plivo_numlink.callbacks import signature_v2, signature_v3

from .callback_support import CALLBACK, NONCE, TOKEN, MakeClient, Recorder, signed, url_of


async def test_a_captured_request_with_changed_parameters_is_refused_despite_its_valid_v2(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    captured = signed("POST", url_of(client), CALLBACK)
    altered = {**CALLBACK, "status": "failed", "number": "13125550000"}
    response = await client.post("/cb", data=altered, headers=captured)
    assert response.status == 403
    assert await response.text() == "invalid signature"
    assert recorder.events == []


async def test_a_valid_v2_beside_a_ma_v3_that_does_not_match_is_refused(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    url = url_of(client)
    headers = {
        "X-Plivo-Signature-V2": signature_v2(url, NONCE, TOKEN),
        "X-Plivo-Signature-V2-Nonce": NONCE,
        "X-Plivo-Signature-Ma-V3": signature_v3("POST", url, {}, NONCE, TOKEN),
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    response = await client.post("/cb", data=CALLBACK, headers=headers)
    assert response.status == 403
    assert recorder.events == []


@pytest.mark.parametrize("version", ["V2", "V3"])
@pytest.mark.parametrize("first_under_ma", [False, True], ids=["own-then-ma", "ma-then-own"])
async def test_a_signature_replayed_under_its_twin_header_is_refused(
    make_client: MakeClient, recorder: Recorder, version: str, first_under_ma: bool
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    signature = headers[f"X-Plivo-Signature-{version}"]
    nonce = {f"X-Plivo-Signature-{version}-Nonce": NONCE}
    own = {f"X-Plivo-Signature-{version}": signature, **nonce}
    twin = {f"X-Plivo-Signature-Ma-{version}": signature, **nonce}
    first, replay = (twin, own) if first_under_ma else (own, twin)
    assert (await client.post("/cb", data=CALLBACK, headers=first)).status == 200
    again = await client.post("/cb", data=CALLBACK, headers=replay)
    assert again.status == 403
    assert await again.text() == "replayed"
    assert len(recorder.events) == 1


async def test_a_request_accepted_on_v3_also_spends_its_v2_nonce(
    make_client: MakeClient, recorder: Recorder
) -> None:
    client = await make_client()
    headers = signed("POST", url_of(client), CALLBACK)
    assert (await client.post("/cb", data=CALLBACK, headers=headers)).status == 200
    v2_only = {name: value for name, value in headers.items() if "V2" in name}
    again = await client.post("/cb", data={**CALLBACK, "status": "failed"}, headers=v2_only)
    assert again.status == 403
    assert await again.text() == "replayed"
    assert len(recorder.events) == 1
