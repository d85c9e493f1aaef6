"""The fake's campaigns and what Plivo does with their numbers: the state machine, no HTTP.

A linked number is ``PROCESSING`` until ``complete_after`` seconds have passed *and* reads
have shown it ``PROCESSING`` ``complete_after_polls`` times; then it is ``COMPLETED``
(``FAILED`` for ``fail_numbers``). An unlinked number stays listed as it was until the same
rules say the unlinking is done. Nothing runs in the background for this: the state is
brought up to date when it is read. The one exception is a change that has a callback to
send and has been read ``complete_after_polls`` times (at once when that is 0): a timer
finishes it on time, so its callback comes without further reads, as Plivo's would.

Plivo's refusals are raised as :class:`Refused`, which the HTTP layer turns into answers.

The re-link window. Plivo documents statuses for linking only (PROCESSING: "the linking
request is being processed", COMPLETED, FAILED) and says of an unlink only that the request
"was received and is being processed". How a number shows while its unlink is processed, and
how a link of it is answered then, is not documented; the fake takes the cautious reading,
the worst case for a client: the number stays listed as it was (COMPLETED) until the unlink
is done, and a link of it is refused like any number in the campaign ("already requested
for linking"), although the unlink then removes it. :meth:`CampaignBook.unlinking` tells a
test which numbers are in that window, so a test cannot take "COMPLETED" for "stays linked".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from itertools import islice
from typing import Literal

import attrs

from .._numbers import try_normalize_number

PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"

#: The ``reason`` of a ``failed`` callback, and the cause of a FAILED status.
FAILURE_REASON = "Number linking failed: the number is not eligible for this campaign"

#: How many numbers :func:`generated_numbers` can make (area code 212, exchanges 200-999).
MAX_GENERATED_NUMBERS = 800 * 10_000

#: ``(url, method, params)`` of a status callback that is due.
CallbackStarter = Callable[[str, str, dict[str, str]], None]


class Refused(Exception):
    """A call Plivo refuses, with the status and error text it answers."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@attrs.define(eq=False)
class PendingChange:
    """A link or unlink that Plivo is still processing for one number."""

    op: Literal["link", "unlink"]
    #: ``clock()`` when the request was accepted.
    since: float
    callback_url: str | None = None
    callback_method: str = "POST"
    #: Reads that have shown the number while this change was pending.
    polls: int = 0
    timer: asyncio.TimerHandle | None = attrs.field(default=None, repr=False)


@attrs.define(eq=False)
class Campaign:
    """A campaign's state: its numbers in link order, each with the status Plivo would show.

    ``numbers`` holds what a read would show right now, except that pending changes are
    only brought up to date when something reads them; ``pending`` holds those changes.
    """

    campaign_id: str
    alias: str
    usecase: str = "STARTER"
    numbers: dict[str, str] = attrs.field(factory=dict)
    pending: dict[str, PendingChange] = attrs.field(factory=dict)


# --------------------------------------------------------------------------------------------
# Numbers


def wire_number(text: str) -> str | None:
    """``text`` as the API writes numbers (11 digits from ``1``, no ``+``), or None.

    Plivo documents E.164 (``+14155550103``) for link while every example and answer
    writes ``14155550103``, so both are accepted; nothing else is (no spaces or dashes).
    """
    digits = text[1:] if text.startswith("+") else text
    if len(digits) == 11 and digits[0] == "1" and digits.isascii() and digits.isdigit():
        return digits
    return None


def normalized_set(numbers: Iterable[str]) -> frozenset[str]:
    """The numbers as a user would write them, in wire form (kept as given if not numbers)."""
    out = set()
    for raw in numbers:
        number, _ = try_normalize_number(raw)
        out.add(number or raw)
    return frozenset(out)


def generated_numbers(count: int, start: int = 0) -> Iterator[str]:
    """``count`` distinct valid numbers from the ``start``-th: ``12122000000``, ``12122000001``...

    The ``i``-th is ``1212``, then the exchange ``200 + i // 10000``, then ``i % 10000`` in
    four digits (the same numbers as the benchmarks' ``numbers()``).
    """
    if count < 0 or start < 0 or start + count > MAX_GENERATED_NUMBERS:
        raise ValueError(
            f"can generate numbers 0 to {MAX_GENERATED_NUMBERS - 1} only, not {count} from {start}"
        )
    return (f"1212{200 + i // 10_000}{i % 10_000:04d}" for i in range(start, start + count))


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# The state machine


class CampaignBook:
    """Every campaign of the fake, and the link/unlink calls that change them.

    ``start_callback`` is called with ``(url, method, params)`` when a change that asked for
    a callback finishes and ``send_callbacks`` is on.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        complete_after: float,
        complete_after_polls: int,
        fail_numbers: Iterable[str],
        invalid_numbers: Iterable[str],
        send_callbacks: bool,
        start_callback: CallbackStarter,
    ) -> None:
        if complete_after < 0:
            raise ValueError(f"complete_after must be >= 0, not {complete_after!r}")
        if complete_after_polls < 0:
            raise ValueError(f"complete_after_polls must be >= 0, not {complete_after_polls!r}")
        self.clock = clock
        self.complete_after = complete_after
        self.complete_after_polls = complete_after_polls
        self.fail_numbers = normalized_set(fail_numbers)
        self.invalid_numbers = normalized_set(invalid_numbers)
        self.send_callbacks = send_callbacks
        self.campaigns: dict[str, Campaign] = {}
        self._start_callback = start_callback
        # Timers need a running event loop: they are armed between start and stop only.
        self._timers_on = False

    # ------------------------------------------------------------------------- set-up

    def add_campaign(
        self,
        campaign_id: str,
        *,
        alias: str | None = None,
        usecase: str = "STARTER",
        numbers: Iterable[str] = (),
    ) -> Campaign:
        """Create (or replace) a campaign holding ``numbers`` as COMPLETED, and return it."""
        linked = self._checked_prelink(campaign_id, numbers)
        old = self.campaigns.get(campaign_id)
        if old is not None:
            self._cancel_timers(old)
        campaign = Campaign(campaign_id, alias or f"Campaign {campaign_id}", usecase)
        campaign.numbers = dict.fromkeys(linked, COMPLETED)
        self.campaigns[campaign_id] = campaign
        return campaign

    def prelink(self, prelink: int | Mapping[str, Iterable[str]]) -> None:
        """Link numbers before any request: N generated ones per campaign, or given ones."""
        if isinstance(prelink, bool) or not isinstance(prelink, (int, Mapping)):
            raise TypeError(
                f"prelink must be a count or a mapping of campaign ids to numbers, not {prelink!r}"
            )
        if isinstance(prelink, int):
            if prelink < 0:
                raise ValueError(f"prelink must be >= 0, not {prelink!r}")
            # Checked before generating anything: millions of numbers take seconds.
            if prelink * len(self.campaigns) > MAX_GENERATED_NUMBERS:
                raise ValueError(
                    f"prelink={prelink} for {len(self.campaigns)} campaign(s) needs more numbers "
                    f"than can be generated ({MAX_GENERATED_NUMBERS:,})"
                )
            # Numbers run on from one campaign to the next: a number has one campaign.
            for index, campaign_id in enumerate(list(self.campaigns)):
                self._link_completed(campaign_id, generated_numbers(prelink, index * prelink))
            return
        for campaign_id, numbers in prelink.items():
            if campaign_id not in self.campaigns:
                self.add_campaign(campaign_id)
            self._link_completed(campaign_id, numbers)

    def _link_completed(self, campaign_id: str, numbers: Iterable[str]) -> None:
        campaign = self.campaigns[campaign_id]
        campaign.numbers.update(
            dict.fromkeys(self._checked_prelink(campaign_id, numbers), COMPLETED)
        )

    def _checked_prelink(self, campaign_id: str, numbers: Iterable[str]) -> list[str]:
        if isinstance(numbers, str):
            raise TypeError(f"the numbers of campaign {campaign_id} must be a list, not a string")
        linked: list[str] = []
        for raw in numbers:
            number, reason = try_normalize_number(raw)
            if number is None:
                raise ValueError(f"cannot prelink to campaign {campaign_id}: {reason}")
            for other in self.campaigns.values():
                if other.campaign_id != campaign_id and number in other.numbers:
                    raise ValueError(
                        f"cannot prelink {number} to campaign {campaign_id}: "
                        f"it is in campaign {other.campaign_id}"
                    )
            linked.append(number)
        return linked

    def set_status(self, campaign_id: str, number: str, status: str | None) -> None:
        """Put ``number`` in the campaign with ``status`` (any text), or remove it (None)."""
        campaign = self.campaigns[campaign_id]
        change = campaign.pending.pop(number, None)
        if change is not None and change.timer is not None:
            change.timer.cancel()
        if status is None:
            campaign.numbers.pop(number, None)
        else:
            campaign.numbers[number] = status

    def unlinking(self, campaign_id: str) -> list[str]:
        """The campaign's numbers whose unlink is still being processed (brought up to date)."""
        self.numbers(campaign_id)
        pending = self.campaigns[campaign_id].pending
        return [number for number, change in pending.items() if change.op == "unlink"]

    def numbers(self, campaign_id: str) -> dict[str, str]:
        """The campaign's numbers and statuses, brought up to date (not counted as a read)."""
        campaign = self.campaigns[campaign_id]
        now = self.clock()
        for number, change in list(campaign.pending.items()):
            self._advance(campaign, number, change, now, shown=False)
        return dict(campaign.numbers)

    # -------------------------------------------------------------------------- the calls

    def link(
        self, campaign: Campaign, numbers: list[str], url: str | None, method: str
    ) -> list[str]:
        """Start linking ``numbers``; return them in wire form, once each, in order.

        One number Plivo refuses refuses the whole request, and nothing changes.
        """
        unique: dict[str, None] = {}
        for raw in numbers:
            number = wire_number(raw)
            if number is None or number in self.invalid_numbers:
                raise Refused(400, f"The number {number or raw} is not a valid number")
            if number in unique:
                continue
            status = campaign.numbers.get(number)
            if status is not None and status != FAILED:
                raise Refused(400, f"The number {number} is already requested for linking")
            for other in self.campaigns.values():
                if other is not campaign and other.numbers.get(number, FAILED) != FAILED:
                    raise Refused(400, f"The number {number} is linked to another campaign")
            unique[number] = None
        now = self.clock()
        for number in unique:
            campaign.numbers[number] = PROCESSING
            self._begin(campaign, number, PendingChange("link", now, url, method))
        return list(unique)

    def page(self, campaign: Campaign, offset: int, size: int | None) -> list[dict[str, str]]:
        """Up to ``size`` entries from ``offset`` (all of them when ``size`` is None).

        Each pending number shown counts as one read of it.
        """
        numbers = campaign.numbers
        pending = campaign.pending
        if size is None:
            offset, size = 0, len(numbers)
        now = self.clock()
        page: list[dict[str, str]] = []
        unlinked: list[tuple[str, PendingChange]] = []
        # Walk on past the slice when unlinks finish on the way, so the page stays full.
        for number in islice(numbers, offset, None):
            if len(page) >= size:
                break
            change = pending.get(number)
            if change is not None and self._due(change, now):
                if change.op == "unlink":
                    unlinked.append((number, change))
                    continue
                self._finish(campaign, number, change)
            elif change is not None:
                self._shown(campaign, number, change)
            page.append({"number": number, "status": numbers[number]})
        for number, change in unlinked:
            self._finish(campaign, number, change)
        return page

    def get_one(self, campaign: Campaign, number: str) -> tuple[str, str]:
        """One number in wire form and its status (a read of it); 404 when it is not linked."""
        number = wire_number(number) or number
        change = campaign.pending.get(number)
        if change is not None:
            self._advance(campaign, number, change, self.clock(), shown=True)
        status = campaign.numbers.get(number)
        if status is None:
            raise Refused(404, f"The number {number} is not linked to this campaign")
        return number, status

    def unlink(self, campaign: Campaign, number: str, url: str | None, method: str) -> str:
        """Start unlinking ``number``; return it in wire form."""
        number = wire_number(number) or number
        change = campaign.pending.get(number)
        if change is not None:
            self._advance(campaign, number, change, self.clock(), shown=False)
        if number not in campaign.numbers:
            raise Refused(400, f"The number {number} is not linked to this campaign")
        change = campaign.pending.get(number)
        if change is None or change.op != "unlink":
            # Asking again while an unlink is under way changes nothing.
            self._begin(campaign, number, PendingChange("unlink", self.clock(), url, method))
        return number

    # ------------------------------------------------------------------------- timers

    def start_timers(self) -> None:
        """Arm the timers of the changes that finish on their own (the server started)."""
        self._timers_on = True
        for campaign in self.campaigns.values():
            for number, change in campaign.pending.items():
                if change.timer is None:
                    self._arm_timer(campaign, number, change)

    def stop_timers(self) -> None:
        """Cancel every timer (the server stopped); :meth:`start_timers` arms them again."""
        self._timers_on = False
        for campaign in self.campaigns.values():
            self._cancel_timers(campaign)

    def _cancel_timers(self, campaign: Campaign) -> None:
        for change in campaign.pending.values():
            if change.timer is not None:
                change.timer.cancel()
                change.timer = None

    def _arm_timer(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        # Only a change that needs no more reads to finish can finish on its own (Plivo's
        # processing needs no reads; complete_after_polls is a test's knob); it matters only
        # when someone waits for its callback.
        if (
            change.callback_url is None
            or not self.send_callbacks
            or change.polls < self.complete_after_polls
            or not self._timers_on
        ):
            return
        delay = max(0.0, change.since + self.complete_after - self.clock())
        loop = asyncio.get_running_loop()
        change.timer = loop.call_later(delay, self._on_timer, campaign, number, change)

    def _on_timer(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        change.timer = None
        if campaign.pending.get(number) is change:
            self._advance(campaign, number, change, self.clock(), shown=False)

    # --------------------------------------------------------------------- transitions

    def _begin(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        old = campaign.pending.get(number)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        campaign.pending[number] = change
        self._arm_timer(campaign, number, change)

    def _due(self, change: PendingChange, now: float) -> bool:
        return (
            now - change.since >= self.complete_after and change.polls >= self.complete_after_polls
        )

    def _advance(
        self, campaign: Campaign, number: str, change: PendingChange, now: float, *, shown: bool
    ) -> None:
        if self._due(change, now):
            self._finish(campaign, number, change)
        elif shown:
            self._shown(campaign, number, change)

    def _shown(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        """A read showed the pending ``change``: once shown enough, it finishes on time."""
        change.polls += 1
        if change.polls == self.complete_after_polls and change.timer is None:
            self._arm_timer(campaign, number, change)

    def _finish(self, campaign: Campaign, number: str, change: PendingChange) -> None:
        del campaign.pending[number]
        if change.timer is not None:
            change.timer.cancel()
            change.timer = None
        if change.op == "link":
            ok = number not in self.fail_numbers
            campaign.numbers[number] = COMPLETED if ok else FAILED
            event = "number_linking"
        else:
            ok = True
            campaign.numbers.pop(number, None)
            event = "number_unlinking"
        if change.callback_url is not None and self.send_callbacks:
            params = {
                "event": event,
                "campaign_id": campaign.campaign_id,
                "number": number,
                "status": "success" if ok else "failed",
            }
            if not ok:
                params["reason"] = FAILURE_REASON
            params["timestamp"] = _timestamp()
            self._start_callback(change.callback_url, change.callback_method, params)
