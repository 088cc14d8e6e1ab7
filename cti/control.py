"""Call control on one Asterisk server: one method per AMI action.

Methods take channel names and extensions (the service resolves calls and
agents to those) and return Asterisk's reply, or raise
:class:`~cti.errors.AsteriskRejected` carrying Asterisk's own error message
(``Channel does not exist: ...``), :class:`~cti.errors.AsteriskUnavailable` when
the link is down, :class:`~cti.errors.AsteriskTimeout` when no reply comes.
Every value is checked for CR/LF by :func:`cti.protocol.encode_action`.
"""

from __future__ import annotations

import dataclasses
import re

from cti.connection import AmiLinkPort
from cti.errors import InvalidActionHeader
from cti.events import MonitorMode
from cti.protocol import AmiMessage
from cti.tracker import DialplanContexts

# Set on a caller's channel before its Redirect to [cc-agent] when the agent auto-accepts
# calls; the dialplan clears it once read (config/asterisk/extensions_cc.conf).
AUTO_ANSWER_VARIABLE = "CC_AUTO_ANSWER"

_EXTENSION = re.compile(r"^[0-9A-Za-z*#+_.-]{1,40}$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
# [cc-queue] matches _[0-9a-zA-Z]. : at least two characters, starting with one of those.
_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def check_extension(value: str) -> str:
    if not _EXTENSION.match(value):
        raise InvalidActionHeader(f"not a valid extension: {value!r}")
    return value


def check_number(value: str) -> str:
    cleaned = re.sub(r"[\s()./-]", "", value)
    if not _NUMBER.match(cleaned):
        raise InvalidActionHeader(f"not a valid phone number: {value!r}")
    return cleaned


def check_queue(value: str) -> str:
    if not _QUEUE.match(value):
        raise InvalidActionHeader(f"not a valid queue name: {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ControlSettings:
    contexts: DialplanContexts = dataclasses.field(default_factory=DialplanContexts)
    endpoint_tech: str = "PJSIP"
    originate_timeout_ms: int = 20_000
    recording_dir: str = "/var/spool/asterisk/monitor"
    recording_format: str = "wav"


class AmiCallControl:
    """Sends the actions of the dialplan contract over one link."""

    def __init__(self, link: AmiLinkPort, settings: ControlSettings | None = None) -> None:
        self.link = link
        self.settings = settings or ControlSettings()

    @property
    def _ctx(self) -> DialplanContexts:
        return self.settings.contexts

    def phone(self, extension: str) -> str:
        return f"{self.settings.endpoint_tech}/{check_extension(extension)}"

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        extra_channel: str = "",
        extra_context: str = "",
        extra_exten: str = "",
    ) -> AmiMessage:
        headers = [("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", "1")]
        if extra_channel:
            headers += [
                ("ExtraChannel", extra_channel),
                ("ExtraContext", extra_context),
                ("ExtraExten", extra_exten),
                ("ExtraPriority", "1"),
            ]
        return await self.link.send_action("Redirect", headers)

    async def offer_to_agent(
        self, customer_channel: str, extension: str, *, auto_answer: bool = False
    ) -> AmiMessage:
        """Send a held caller to ``[cc-agent]``, which dials the agent's phone.

        ``auto_answer``: the agent auto-accepts calls. ``CC_AUTO_ANSWER=1`` is set on the
        caller's channel first (AMI Redirect carries no variables); ``[cc-agent]`` reads
        and clears it, and dials the phone with ``Call-Info: answer-after=0``, which SIP
        phones take as "answer by yourself"."""
        exten = check_extension(extension)
        if auto_answer:
            await self.link.send_action(
                "Setvar",
                [("Channel", customer_channel), ("Variable", AUTO_ANSWER_VARIABLE), ("Value", "1")],
            )
        return await self.redirect(customer_channel, self._ctx.offer, exten)

    async def send_to_queue(self, customer_channel: str, queue: str) -> AmiMessage:
        return await self.redirect(customer_channel, self._ctx.queue, check_queue(queue))

    async def send_to_number(self, customer_channel: str, number: str) -> AmiMessage:
        return await self.redirect(customer_channel, self._ctx.outbound, check_number(number))

    async def hangup(self, channel: str, cause: int = 16) -> AmiMessage:
        return await self.link.send_action("Hangup", [("Channel", channel), ("Cause", str(cause))])

    async def hold(self, customer_channel: str, agent_channel: str) -> AmiMessage:
        """Customer to music on hold, agent to silence: both leave the bridge together."""
        return await self.redirect(
            customer_channel,
            self._ctx.on_hold,
            "s",
            extra_channel=agent_channel,
            extra_context=self._ctx.agent_on_hold,
            extra_exten="s",
        )

    async def resume(self, customer_channel: str, agent_channel: str) -> AmiMessage:
        return await self.link.send_action(
            "Bridge", [("Channel1", agent_channel), ("Channel2", customer_channel), ("Tone", "no")]
        )

    async def blind_transfer(self, agent_channel: str, extension: str) -> AmiMessage:
        return await self.link.send_action(
            "BlindTransfer",
            [
                ("Channel", agent_channel),
                ("Context", self._ctx.offer),
                ("Exten", check_extension(extension)),
            ],
        )

    async def attended_transfer(self, agent_channel: str, extension: str) -> AmiMessage:
        return await self.link.send_action(
            "Atxfer",
            [
                ("Channel", agent_channel),
                ("Exten", check_extension(extension)),
                ("Context", self._ctx.agents),
            ],
        )

    async def originate_click_to_dial(
        self, extension: str, number: str, channel_id: str, *, caller_name: str = ""
    ) -> AmiMessage:
        number = check_number(number)
        label = caller_name or f"Customer {number}"
        return await self.link.send_action(
            "Originate",
            [
                ("Channel", self.phone(extension)),
                ("Context", self._ctx.outbound),
                ("Exten", number),
                ("Priority", "1"),
                ("CallerID", f'"{_quote(label)}" <{number}>'),
                ("Timeout", str(self.settings.originate_timeout_ms)),
                ("Async", "true"),
                ("Variable", f"CC_AGENT={extension}"),
                ("ChannelId", channel_id),
            ],
        )

    async def originate_monitor(
        self, supervisor_extension: str, agent_extension: str, mode: MonitorMode
    ) -> AmiMessage:
        context = {
            MonitorMode.LISTEN: self._ctx.supervisor_listen,
            MonitorMode.WHISPER: self._ctx.supervisor_whisper,
            MonitorMode.BARGE: self._ctx.supervisor_barge,
        }[mode]
        label = f"{mode.value.capitalize()} {agent_extension}"
        return await self.link.send_action(
            "Originate",
            [
                ("Channel", self.phone(supervisor_extension)),
                ("Context", context),
                ("Exten", check_extension(agent_extension)),
                ("Priority", "1"),
                ("CallerID", f'"{label}" <{agent_extension}>'),
                ("Timeout", "15000"),
                ("Async", "true"),
            ],
        )

    async def start_recording(self, channel: str, file: str) -> AmiMessage:
        # Option b: record only while bridged (no music on hold in the file).
        return await self.link.send_action(
            "MixMonitor", [("Channel", channel), ("File", file), ("Options", "b")]
        )

    async def stop_recording(self, channel: str) -> AmiMessage:
        return await self.link.send_action("StopMixMonitor", [("Channel", channel)])

    async def mute_recording(self, channel: str, muted: bool) -> AmiMessage:
        """Pause/resume: MixMonitor keeps the file and writes silence while muted."""
        return await self.link.send_action(
            "MixMonitorMute",
            [("Channel", channel), ("Direction", "both"), ("State", "1" if muted else "0")],
        )

    async def get_variable(self, channel: str, variable: str) -> str:
        reply = await self.link.send_action(
            "Getvar", [("Channel", channel), ("Variable", variable)]
        )
        return reply.get("Value")

    def recording_path(self, call_id: str, at: float) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", call_id)
        return f"{self.settings.recording_dir}/cc-{safe}-{int(at)}.{self.settings.recording_format}"


def _quote(text: str) -> str:
    return text.replace('"', "'")
