"""The Wyoming wake-word service, spoken to by the wyoming package's own client."""
from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

pytest.importorskip("wyoming")
pytest.importorskip("tensorflow")  # the test model is trained here
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.event import async_read_event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.wake import Detect, Detection, NotDetected  # noqa: E402

from sdk.bundle import Bundle  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.wyoming_service import WakeService, pcm_to_float, serve, wake_words  # noqa: E402
from stream_model import HELD_OUT_VOICE, have_espeak, noise, speak  # noqa: E402

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")
KEYWORD_AT_S = 2.0
STREAM_S = 5.0


@pytest.fixture
def bundle(yes_bundle) -> Bundle:
    return yes_bundle


def stream_audio(*, with_keyword: bool, rate: int, seed: int) -> np.ndarray:
    """STREAM_S seconds of quiet noise at ``rate``; a held-out voice says "yes" at KEYWORD_AT_S."""
    rng = np.random.default_rng(seed)
    audio = noise(rng, int(STREAM_S * 16000), -55)
    if with_keyword:
        word = speak("yes", voice=HELD_OUT_VOICE)
        start = int(KEYWORD_AT_S * 16000)
        audio[start : start + word.size] += 0.8 * word
    from sdk.audio import resample

    return resample(audio, 16000, rate)


def to_pcm(audio: np.ndarray, *, width: int, channels: int) -> bytes:
    scaled = np.clip(audio, -1, 1)
    if width == 2:
        samples = (scaled * 32767).astype("<i2")
    else:
        samples = (scaled * 2147483647).astype("<i4")
    return np.repeat(samples[:, None], channels, axis=1).tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The service on a loopback port for the length of one test."""

    def __init__(self, service: WakeService):
        self.service, self.port = service, free_port()

    async def __aenter__(self):
        ready = asyncio.Event()
        self.task = asyncio.create_task(serve(f"tcp://127.0.0.1:{self.port}", self.service, ready=ready))
        await asyncio.wait_for(ready.wait(), 5)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port)


async def read_until_quiet(client: AsyncTcpClient, quiet_s: float = 1.5) -> list:
    events = []
    while True:
        try:
            event = await asyncio.wait_for(client.read_event(), quiet_s)
        except asyncio.TimeoutError:
            return events
        if event is None:
            return events
        events.append(event)


async def send_stream(client, audio, *, rate: int, width: int = 2, channels: int = 1, chunk_frames: int = 1024,
                      names=None, pause_s: float = 0.0):
    if names is not None:
        await client.write_event(Detect(names=names).event())
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    pcm = to_pcm(audio, width=width, channels=channels)
    step = chunk_frames * width * channels
    for i in range(0, len(pcm), step):
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i : i + step]).event())
        if pause_s:
            await asyncio.sleep(pause_s)
    await client.write_event(AudioStop().event())


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_describe_lists_the_models_wake_words(bundle):
    async def scenario():
        async with Server(WakeService([bundle])) as server:
            async with server.client() as client:
                await client.write_event(Describe().event())
                info = Info.from_event(await asyncio.wait_for(client.read_event(), 5))
        return info

    info = run(scenario())
    assert len(info.wake) == 1
    program = info.wake[0]
    assert program.name == "auricle" and program.installed
    assert [m.name for m in program.models] == ["yes"]
    assert program.models[0].languages == ["en"] and program.models[0].version


@pytest.mark.parametrize("rate, width, channels", [(16000, 2, 1), (48000, 2, 2), (22050, 4, 1)])
def test_keyword_stream_gives_one_detection_at_the_right_time(bundle, rate, width, channels):
    audio = stream_audio(with_keyword=True, rate=rate, seed=1)

    async def scenario():
        async with Server(WakeService([bundle])) as server:
            async with server.client() as client:
                await send_stream(client, audio, rate=rate, width=width, channels=channels, names=["yes"])
                return await read_until_quiet(client)

    events = run(scenario())
    detections = [Detection.from_event(e) for e in events if Detection.is_type(e.type)]
    assert len(detections) == 1, [e.type for e in events]
    assert detections[0].name == "yes"
    assert KEYWORD_AT_S <= detections[0].timestamp / 1000 <= KEYWORD_AT_S + 1.5
    assert not any(NotDetected.is_type(e.type) for e in events)


def test_background_stream_gives_not_detected(bundle):
    audio = stream_audio(with_keyword=False, rate=16000, seed=2)

    async def scenario():
        async with Server(WakeService([bundle])) as server:
            async with server.client() as client:
                await send_stream(client, audio, rate=16000)
                return await read_until_quiet(client)

    events = run(scenario())
    assert [e.type for e in events] == ["not-detected"]


def test_two_clients_do_not_disturb_each_other(bundle):
    keyword = stream_audio(with_keyword=True, rate=16000, seed=3)
    background = stream_audio(with_keyword=False, rate=16000, seed=4)

    async def one(server, audio):
        async with server.client() as client:
            await send_stream(client, audio, rate=16000, chunk_frames=512, pause_s=0.001)
            return await read_until_quiet(client)

    async def scenario():
        async with Server(WakeService([bundle])) as server:
            return await asyncio.gather(one(server, keyword), one(server, background))

    with_keyword, without = run(scenario())
    assert [e.type for e in with_keyword] == ["detection"]
    assert [e.type for e in without] == ["not-detected"]


def test_client_that_disconnects_mid_stream_frees_its_state(bundle):
    audio = stream_audio(with_keyword=False, rate=16000, seed=5)
    service = WakeService([bundle])

    async def scenario():
        async with Server(service) as server:
            client = server.client()
            await client.connect()
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=to_pcm(audio[:8000], width=2, channels=1)).event())
            await asyncio.sleep(0.3)
            open_during = len(service.sessions)
            await client.disconnect()
            for _ in range(50):
                if not service.sessions:
                    break
                await asyncio.sleep(0.05)
            open_after = len(service.sessions)
            # the server still serves a new client afterwards
            async with server.client() as other:
                await other.write_event(Describe().event())
                info = await asyncio.wait_for(other.read_event(), 5)
            return open_during, open_after, info

    open_during, open_after, info = run(scenario())
    assert open_during == 1
    assert open_after == 0
    assert Info.is_type(info.type)


def test_bad_input_gets_error_events_and_the_connection_goes_on(bundle):
    audio = stream_audio(with_keyword=True, rate=16000, seed=6)

    async def scenario():
        async with Server(WakeService([bundle])) as server:
            async with server.client() as client:
                await client.write_event(Detect(names=["hey_lumen"]).event())
                await client.write_event(AudioStart(rate=16000, width=3, channels=1).event())
                await client.write_event(AudioChunk(rate=16000, width=3, channels=1, audio=bytes(300)).event())
                await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(301)).event())
                await send_stream(client, audio, rate=16000)
                return await read_until_quiet(client)

    events = run(scenario())
    errors = [Error.from_event(e) for e in events if Error.is_type(e.type)]
    assert [e.code for e in errors] == ["unknown-wake-word", "bad-audio", "bad-audio"]
    assert "hey_lumen" in errors[0].text and "['yes']" in errors[0].text
    assert "width=3" in errors[1].text
    assert "301 bytes" in errors[2].text
    assert [e.type for e in events if not Error.is_type(e.type)] == ["detection"]


def test_malformed_lines_get_error_events(bundle):
    async def scenario():
        async with Server(WakeService([bundle])) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"{this is not json\n")
            writer.write(b'{"type": "audio-chunk", "data": {"width": 2}}\n')
            writer.write(b'{"type": "describe"}\n')
            await writer.drain()
            replies = [await asyncio.wait_for(async_read_event(reader), 5) for _ in range(3)]
            writer.close()
            return replies

    replies = run(scenario())
    assert [e.type for e in replies] == ["error", "error", "info"]  # still serving after two bad lines
    assert "malformed event (JSONDecodeError" in replies[0].data["text"]
    assert "malformed audio-chunk event (KeyError: 'rate')" in replies[1].data["text"]


def test_wake_words_and_pcm_conversion_errors(bundle):
    assert list(wake_words([bundle])) == ["yes"]
    with pytest.raises(ConfigError, match="width=3 bytes per sample is not supported"):
        pcm_to_float(bytes(6), width=3, channels=1)
    with pytest.raises(ConfigError, match="5 bytes is not a whole number of 2-channel 2-byte frames"):
        pcm_to_float(bytes(5), width=2, channels=2)
    stereo = np.array([[1000, 3000], [-2000, 0]], "<i2").tobytes()
    np.testing.assert_allclose(pcm_to_float(stereo, width=2, channels=2), [2000 / 32768, -1000 / 32768])
