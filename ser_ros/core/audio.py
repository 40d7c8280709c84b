# Copyright 2026 The ser_ros authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Audio in: turn audio_common payloads and audio files into float32 mono at the model's rate.

This is the one place where audio is decoded. The node, the player, the trainer, the CLI and
the bag tools all call it, so a recording is heard the same way everywhere.

Two entry points:

- :class:`StreamDecoder` for messages: ``AudioData.data`` bytes plus the stream's ``AudioInfo``
  fields. PCM in any :data:`SAMPLE_FORMATS`, or mp3 decoded incrementally, chunk by chunk, with
  PyAV. Channels are averaged and the rate is converted by a streaming soxr resampler, so the
  output of a stream cut into chunks is continuous across chunk edges.
- :func:`load_audio` for files (wav, flac, ogg through libsndfile; mp3 and others through PyAV).
"""

from collections.abc import Iterator
from dataclasses import dataclass
import logging
import os
from typing import Any

import av
import numpy as np
from ser_ros.core.errors import SerError
import soundfile
import soxr

LOGGER = logging.getLogger(__name__)

#: PCM sample formats (GStreamer names, as audio_capture writes them in AudioInfo): numpy dtype,
#: then the offset and scale that map the integer range onto [-1, 1).
SAMPLE_FORMATS = {
    'S8': ('i1', 0.0, 2.0 ** 7),
    'U8': ('u1', 2.0 ** 7, 2.0 ** 7),
    'S16LE': ('<i2', 0.0, 2.0 ** 15),
    'S16BE': ('>i2', 0.0, 2.0 ** 15),
    'U16LE': ('<u2', 2.0 ** 15, 2.0 ** 15),
    'U16BE': ('>u2', 2.0 ** 15, 2.0 ** 15),
    'S24LE': ('S24LE', 0.0, 2.0 ** 23),
    'S24BE': ('S24BE', 0.0, 2.0 ** 23),
    'S32LE': ('<i4', 0.0, 2.0 ** 31),
    'S32BE': ('>i4', 0.0, 2.0 ** 31),
    'F32LE': ('<f4', 0.0, 1.0),
    'F32BE': ('>f4', 0.0, 1.0),
    'F64LE': ('<f8', 0.0, 1.0),
    'F64BE': ('>f8', 0.0, 1.0),
}
#: Coding formats that mean uncompressed PCM (audio_capture says "wave"; others say "raw").
PCM_CODINGS = ('', 'wave', 'wav', 'raw', 'pcm')
#: Compressed coding formats decoded with PyAV.
COMPRESSED_CODINGS = ('mp3',)
#: A compressed stream that yields no audio for this many bytes is not being decoded (one mp3
#: frame is at most 1,441 bytes at 320 kbit/s).
MAX_BYTES_WITHOUT_AUDIO = 16384
#: Audio read from a file at once [s]: bounds memory for files of hours.
FILE_BLOCK_S = 10.0
#: Longest piece of an untrusted string (an AudioInfo field) quoted in a message.
MAX_QUOTED_CHARS = 40
#: Bounds that a believable stream respects; anything outside is rejected, not guessed.
MAX_CHANNELS = 64
MIN_SAMPLE_RATE_HZ = 1000
MAX_SAMPLE_RATE_HZ = 768000


def quoted(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """Return ``repr(text)``, cut to ``limit`` characters: untrusted strings go into logs."""
    if len(text) <= limit:
        return repr(text)
    return f'{text[:limit]!r}... ({len(text)} characters)'


class AudioFormatError(SerError):
    """An audio payload or stream description that cannot be decoded; the message says why."""


@dataclass(frozen=True)
class AudioFormat:
    """
    How a stream's bytes are to be read: the fields of ``audio_common_msgs/AudioInfo``.

    Attributes
    ----------
    channels : int
        Interleaved channels per frame (PCM); mp3 carries its own.
    sample_rate : int
        Samples per second and channel [Hz] (PCM); mp3 carries its own.
    sample_format : str
        One of :data:`SAMPLE_FORMATS` (PCM only), e.g. ``'S16LE'``.
    coding_format : str
        ``'wave'``/``'raw'``/``''`` for PCM, or ``'mp3'``.

    """

    channels: int = 1
    sample_rate: int = 16000
    sample_format: str = 'S16LE'
    coding_format: str = 'wave'

    def __str__(self) -> str:
        """Describe the format for logs, quoting its strings cut short (they are untrusted)."""
        return (f'{quoted(self.coding_format)} {self.channels} ch {self.sample_rate} Hz '
                f'{quoted(self.sample_format)}')

    @classmethod
    def from_info(cls, info: Any) -> 'AudioFormat':
        """
        Return the format an ``audio_common_msgs/AudioInfo`` describes.

        Parameters
        ----------
        info : AudioInfo
            rclpy's message or a bag's (any object with its fields).

        """
        return cls(int(info.channels), int(info.sample_rate), str(info.sample_format),
                   str(info.coding_format))

    @property
    def coding(self) -> str:
        """Return the coding format, lower case; PCM spellings all become ``'pcm'``."""
        coding = self.coding_format.strip().lower()
        return 'pcm' if coding in PCM_CODINGS else coding

    def validate(self) -> 'AudioFormat':
        """
        Check that this format can be decoded.

        Raises
        ------
        AudioFormatError
            Naming the field that is wrong and the accepted values.

        """
        if self.coding not in ('pcm', *COMPRESSED_CODINGS):
            raise AudioFormatError(
                f'unknown coding_format {quoted(self.coding_format)}: expected one of '
                f'{sorted(set(PCM_CODINGS) | set(COMPRESSED_CODINGS))}')
        if self.coding != 'pcm':
            return self
        if self.sample_format.upper() not in SAMPLE_FORMATS:
            raise AudioFormatError(
                f'unknown sample_format {quoted(self.sample_format)}: expected one of '
                f'{sorted(SAMPLE_FORMATS)}')
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise AudioFormatError(f'channels {self.channels} outside 1..{MAX_CHANNELS}')
        if not MIN_SAMPLE_RATE_HZ <= self.sample_rate <= MAX_SAMPLE_RATE_HZ:
            raise AudioFormatError(f'sample_rate {self.sample_rate} Hz outside '
                                   f'{MIN_SAMPLE_RATE_HZ}..{MAX_SAMPLE_RATE_HZ} Hz')
        return self

    def announced_bitrate(self, mp3_bitrate_bps: int) -> int:
        """Return the bit rate an AudioInfo announces [bit/s]: the mp3 rate, or PCM's own."""
        if self.coding == 'mp3':
            return int(mp3_bitrate_bps)
        return self.sample_rate * self.bytes_per_frame * 8

    @property
    def bytes_per_frame(self) -> int:
        """Return the bytes of one PCM frame (one sample of every channel)."""
        dtype = SAMPLE_FORMATS[self.sample_format.upper()][0]
        sample_bytes = 3 if dtype.startswith('S24') else np.dtype(dtype).itemsize
        return sample_bytes * self.channels


def decode_pcm(payload: bytes, audio_format: AudioFormat) -> np.ndarray:
    """
    Decode interleaved PCM bytes into float samples.

    Parameters
    ----------
    payload : bytes-like
        Whole frames of interleaved samples.
    audio_format : AudioFormat
        A validated PCM format.

    Returns
    -------
    numpy.ndarray, shape (n_frames, channels), float32
        Samples in [-1, 1]; non-finite float samples become 0.

    Raises
    ------
    AudioFormatError
        When the payload is not a whole number of frames.

    """
    data = np.frombuffer(payload, dtype=np.uint8)
    frame_bytes = audio_format.bytes_per_frame
    if data.size % frame_bytes:
        raise AudioFormatError(
            f'{data.size} bytes is not a whole number of {audio_format.sample_format} frames '
            f'of {audio_format.channels} channel(s) ({frame_bytes} bytes each)')
    dtype, offset, scale = SAMPLE_FORMATS[audio_format.sample_format.upper()]
    if dtype.startswith('S24'):
        triplets = data.reshape(-1, 3).astype(np.int32)
        if dtype == 'S24BE':
            triplets = triplets[:, ::-1]
        values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        values = np.where(values >= 2 ** 23, values - 2 ** 24, values)
    else:
        values = data.view(dtype)
    samples = ((values.astype(np.float64) - offset) / scale).astype(np.float32)
    if values.dtype.kind == 'f':
        samples = finite_samples(samples)
    return samples.reshape(-1, audio_format.channels)


def finite_samples(samples: np.ndarray) -> np.ndarray:
    """Return float samples with NaN as silence, +-inf as full scale, all clipped to [-1, 1]."""
    return np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def frame_to_array(frame: av.AudioFrame) -> np.ndarray:
    """
    Convert a decoded PyAV audio frame into float samples.

    Returns
    -------
    numpy.ndarray, shape (n_samples, channels), float32

    """
    array = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        array = array.T
    else:
        array = array.reshape(-1, channels)
    if array.dtype.kind in 'iu':
        top = 2 ** (8 * array.dtype.itemsize - (array.dtype.kind == 'i'))  # iinfo.max + 1
        offset = top // 2 if array.dtype.kind == 'u' else 0
        array = (array.astype(np.float64) - offset) / (top - offset)
    return finite_samples(array.astype(np.float32))


class _Resampler:
    """Streaming sample-rate conversion of mono float32 audio (identity when rates agree)."""

    def __init__(self, in_rate_hz, out_rate_hz):
        self.in_rate_hz = in_rate_hz
        self._stream = None if in_rate_hz == out_rate_hz else soxr.ResampleStream(
            in_rate_hz, out_rate_hz, 1, dtype='float32', quality='HQ')

    def __call__(self, mono, last=False):
        if self._stream is None:
            return mono
        return self._stream.resample_chunk(mono, last=last)


class StreamDecoder:
    """
    Decode one audio stream, message by message, into float32 mono at ``target_rate_hz``.

    The decoder keeps the state that must survive chunk edges (the mp3 parser and the
    resampler's filter memory). A payload that cannot be decoded raises
    :class:`AudioFormatError` and leaves that state as it was, so the stream goes on with the
    next good message. Make a new decoder when the stream's format changes.

    Parameters
    ----------
    audio_format : AudioFormat
        The stream's format (from AudioInfo or from parameters).
    target_rate_hz : int
        The rate of the returned samples [Hz].

    """

    def __init__(self, audio_format: AudioFormat, target_rate_hz: int) -> None:
        self.audio_format = audio_format.validate()
        self.target_rate_hz = int(target_rate_hz)
        self.undecodable_packets = 0
        self.bytes_without_audio = 0
        self._resampler: _Resampler | None = None
        self._codec: Any = None
        if self.audio_format.coding == 'pcm':
            self._resampler = _Resampler(self.audio_format.sample_rate, self.target_rate_hz)
        else:
            self._codec = av.CodecContext.create(self.audio_format.coding, 'r')

    def decode(self, payload: bytes) -> np.ndarray:
        """
        Decode one message's payload.

        Parameters
        ----------
        payload : bytes-like
            ``AudioData.data``.

        Returns
        -------
        numpy.ndarray, shape (n_samples,), float32
            Mono samples at ``target_rate_hz``; may be empty (resampler delay, partial mp3 frame).

        Raises
        ------
        AudioFormatError
            When the payload is malformed for this stream's format.

        """
        if self._codec is None:
            return self._mono_at_target(decode_pcm(payload, self.audio_format), self._resampler)
        return self._decode_compressed(bytes(payload))

    def flush(self) -> np.ndarray:
        """Return the samples still held inside the decoder at the end of a stream."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._resampler(np.zeros(0, np.float32), last=True)

    def _decode_compressed(self, payload):
        pieces = []
        for packet in self._codec.parse(payload):
            try:
                frames = self._codec.decode(packet)
            except av.error.FFmpegError as error:
                # A damaged or non-audio packet (an ID3 tag, a truncated frame): skip and count.
                self.undecodable_packets += 1
                LOGGER.debug('skipping an undecodable %s packet: %s', self.audio_format.coding,
                             error)
                continue
            for frame in frames:
                if self._resampler is None or self._resampler.in_rate_hz != frame.sample_rate:
                    self._check_rate(frame.sample_rate)
                    self._resampler = _Resampler(frame.sample_rate, self.target_rate_hz)
                pieces.append(self._mono_at_target(frame_to_array(frame), self._resampler))
        self.bytes_without_audio = 0 if pieces else self.bytes_without_audio + len(payload)
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    @property
    def stalled(self) -> bool:
        """Whether a compressed stream has yielded no audio for :data:`MAX_BYTES_WITHOUT_AUDIO`."""
        return self.bytes_without_audio > MAX_BYTES_WITHOUT_AUDIO

    @staticmethod
    def _check_rate(rate_hz):
        if not MIN_SAMPLE_RATE_HZ <= rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise AudioFormatError(f'decoded sample rate {rate_hz} Hz is not plausible')

    @staticmethod
    def _mono_at_target(samples, resampler):
        mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
        return np.ascontiguousarray(resampler(np.ascontiguousarray(mono, np.float32)))


def load_audio(path: str | os.PathLike, target_rate_hz: int) -> np.ndarray:
    """
    Read an audio file as float32 mono at ``target_rate_hz``.

    Parameters
    ----------
    path : str or os.PathLike
        wav, flac, ogg (libsndfile) or mp3 and anything else FFmpeg reads (PyAV).
    target_rate_hz : int
        Rate of the returned samples [Hz].

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float32

    Raises
    ------
    AudioFormatError
        When the file cannot be read as audio.

    """
    return np.concatenate(list(audio_blocks(path, target_rate_hz)))


def audio_blocks(path: str | os.PathLike, target_rate_hz: int,
                 block_s: float = FILE_BLOCK_S) -> Iterator[np.ndarray]:
    """
    Read an audio file block by block, as float32 mono at ``target_rate_hz``.

    Memory stays bounded whatever the file's length. Channels are averaged, NaN and infinite
    samples cleaned as the stream decoder cleans them, and the rate converted by a streaming
    resampler, so the blocks join into the one-shot result.

    Parameters
    ----------
    path : str or os.PathLike
        wav, flac, ogg (libsndfile) or mp3 and anything else FFmpeg reads (PyAV).
    target_rate_hz : int
        Rate of the returned samples [Hz].
    block_s : float
        Audio per block read from the file [s].

    Yields
    ------
    numpy.ndarray, shape (n_samples,), float32
        At least one block (possibly empty only when the file is).

    Raises
    ------
    AudioFormatError
        When the file cannot be read as audio.

    """
    try:
        sound_file = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        sound_file = None
    if sound_file is None:
        pieces, rate_hz = _frames_with_pyav(path)
    else:
        rate_hz = sound_file.samplerate
        pieces = sound_file.blocks(blocksize=max(1, int(block_s * rate_hz)), dtype='float32',
                                   always_2d=True)
    resampler = _Resampler(rate_hz, target_rate_hz)
    try:
        for samples in pieces:
            samples = finite_samples(samples)
            mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 \
                else samples[:, 0]
            yield np.ascontiguousarray(resampler(np.ascontiguousarray(mono)), np.float32)
        yield np.ascontiguousarray(resampler(np.zeros(0, np.float32), last=True), np.float32)
    finally:
        if sound_file is not None:
            sound_file.close()


def _frames_with_pyav(path):
    """Return (an iterator over the decoded frames as arrays, the rate [Hz]) of a file."""
    try:
        container = av.open(str(path))
        stream = container.streams.audio[0]
        rate_hz = stream.codec_context.sample_rate
    except (av.error.FFmpegError, IndexError) as error:
        raise AudioFormatError(f'cannot read {path} as audio: {error}') from error

    def frames():
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                yield frame_to_array(frame)
        except av.error.FFmpegError as error:
            raise AudioFormatError(f'cannot read {path} as audio: {error}') from error
        finally:
            container.close()
        if not decoded:
            raise AudioFormatError(f'{path} holds no audio samples')
    return frames(), rate_hz


def encode_pcm(samples: np.ndarray, audio_format: AudioFormat) -> bytes:
    """
    Encode float samples as interleaved PCM bytes (the inverse of :func:`decode_pcm`).

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_frames,) or (n_frames, channels)
        Samples in [-1, 1]; clipped.
    audio_format : AudioFormat
        A validated PCM format.

    Returns
    -------
    bytes

    """
    samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
    dtype, offset, scale = SAMPLE_FORMATS[audio_format.sample_format.upper()]
    if dtype.startswith('S24'):
        values = np.clip(np.round(samples * scale), -2 ** 23, 2 ** 23 - 1).astype('<i4')
        triplets = values.reshape(-1, 1).view(np.uint8).reshape(-1, 4)[:, :3]
        return np.ascontiguousarray(triplets[:, ::-1] if dtype == 'S24BE' else triplets).tobytes()
    if np.dtype(dtype).kind == 'f':
        return np.clip(samples, -1.0, 1.0).astype(dtype).tobytes()
    info = np.iinfo(dtype)
    return np.clip(np.round(samples * scale + offset), info.min, info.max).astype(dtype).tobytes()


class Mp3Encoder:
    """
    Encode float32 mono audio into a raw mp3 frame stream, as audio_capture publishes it.

    Parameters
    ----------
    sample_rate_hz : int
        Rate of the input (and of the mp3 stream) [Hz].
    bitrate_bps : int
        Target bit rate [bit/s].

    """

    def __init__(self, sample_rate_hz: int, bitrate_bps: int = 64000) -> None:
        self.sample_rate_hz = int(sample_rate_hz)
        self._codec = av.CodecContext.create('libmp3lame', 'w')
        self._codec.sample_rate = self.sample_rate_hz
        self._codec.layout = 'mono'
        self._codec.format = 'fltp'
        self._codec.bit_rate = int(bitrate_bps)
        self._codec.open()
        self._pending = np.zeros(0, np.float32)
        self._pts = 0

    def encode(self, samples: np.ndarray) -> bytes:
        """Return the bytes of the mp3 frames completed by ``samples`` (shape (n,))."""
        audio = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        frame_size = self._codec.frame_size
        whole = len(audio) // frame_size * frame_size
        self._pending = audio[whole:]
        return b''.join(self._encode_frame(audio[start:start + frame_size])
                        for start in range(0, whole, frame_size))

    def flush(self) -> bytes:
        """Return the bytes of the remaining audio and of the encoder's delay."""
        tail = self._encode_frame(self._pending) if len(self._pending) else b''
        self._pending = np.zeros(0, np.float32)
        return tail + b''.join(bytes(packet) for packet in self._codec.encode(None))

    def _encode_frame(self, samples):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :]), format='fltp',
                                           layout='mono')
        frame.sample_rate = self.sample_rate_hz
        frame.pts = self._pts
        self._pts += len(samples)
        return b''.join(bytes(packet) for packet in self._codec.encode(frame))


def encode_stream(signal: np.ndarray, sample_rate_hz: int, audio_format: AudioFormat,
                  chunk_s: float, bitrate_bps: int = 64000) -> Iterator[tuple[bytes, float]]:
    """
    Cut audio into the payloads an audio_capture node would publish.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_samples,), float32
        Mono audio at ``sample_rate_hz``; PCM channels beyond the first repeat it.
    sample_rate_hz : int
        Rate of ``signal`` and of the stream [Hz].
    audio_format : AudioFormat
        Stream format (``coding_format`` 'wave' or 'mp3').
    chunk_s : float
        Audio per message [s].
    bitrate_bps : int
        mp3 bit rate [bit/s].

    Yields
    ------
    payload : bytes
        One message's ``AudioData.data``; mp3 chunks hold whole frames and may be empty.
    start_s : float
        Offset of the chunk's first sample in ``signal`` [s].

    """
    audio_format.validate()
    chunk = max(1, int(round(chunk_s * sample_rate_hz)))
    encoder = Mp3Encoder(sample_rate_hz, bitrate_bps) if audio_format.coding == 'mp3' else None
    for start in range(0, len(signal), chunk):
        piece = signal[start:start + chunk]
        if encoder is None:
            payload = encode_pcm(np.repeat(piece[:, None], audio_format.channels, axis=1),
                                 audio_format)
        else:
            payload = encoder.encode(piece)
            if start + chunk >= len(signal):
                payload += encoder.flush()
        yield payload, start / sample_rate_hz
