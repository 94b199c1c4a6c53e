#!/usr/bin/env python3
"""Writes the seed files `cli/tests/fuzz.rs` mutates (committed in cli/tests/corpus/): MIDI files
of every format and timing with the message kinds the reader handles, and WAV/FLAC files of every
encoding it reads. Standard library only; the FLAC seeds are written by `ddsp render` (pass the
binary: DDSP_BIN=target/debug/ddsp). Rerun after changing a reader to cover what it learned."""
import math
import os
import struct
import subprocess
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli", "tests", "corpus")


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events):
    body = b"".join(vlq(delta) + data for delta, data in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(fmt, division, tracks):
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division) + b"".join(tracks)


def phrase(channel=0, running_status=False):
    c = channel
    ev = [(0, bytes([0xB0 | c, 11, 100])), (0, bytes([0xC0 | c, 40]))]
    for i, key in enumerate([60, 64, 67, 72]):
        ev.append((0 if i == 0 else 120, bytes([0x90 | c, key, 90 + i])))
        ev.append((60, bytes([0xE0 | c, 0x00, 0x50])))  # bend
        ev.append((60, bytes([0xD0 | c, 70])))  # channel pressure
        ev.append((0, bytes([0xA0 | c, key, 50])))  # poly pressure
        if running_status:
            ev.append((120, bytes([key, 0])))  # note off as running-status note-on velocity 0
        else:
            ev.append((120, bytes([0x80 | c, key, 64])))
    ev.append((0, bytes([0xB0 | c, 64, 127])))  # sustain
    ev.append((240, bytes([0xB0 | c, 64, 0])))
    if running_status:  # the running-status events above continue 0x90; re-state it after 0xE0/0xD0/0xA0
        fixed, last = [], None
        for delta, data in ev:
            if data[0] < 0x80 and last != 0x90 | c:
                data = bytes([0x90 | c]) + data
            last = data[0] if data[0] >= 0x80 else last
            fixed.append((delta, data))
        ev = fixed
    return ev


def meta(kind, data):
    return b"\xff" + bytes([kind]) + vlq(len(data)) + data


def midi_seeds():
    tempo = [(0, meta(0x51, struct.pack(">I", 500000)[1:])), (0, meta(0x58, b"\x04\x02\x18\x08")),
             (0, meta(0x03, b"Fuzz seed")), (480, meta(0x51, struct.pack(">I", 750000)[1:]))]
    sysex = [(0, b"\xf0" + vlq(5) + b"\x7e\x7f\x09\x01\xf7")]
    yield "format0.mid", smf(0, 480, [track(tempo[:3] + sysex + phrase())])
    yield "format1.mid", smf(1, 96, [track(tempo), track(phrase(0)), track(phrase(9, running_status=True))])
    yield "format2.mid", smf(2, 240, [track(tempo[:1] + phrase(1)), track(phrase(2))])
    for fps, sub in [(24, 4), (25, 40), (29, 80), (30, 100)]:
        division = ((256 - fps) << 8) | sub
        yield f"smpte{fps}.mid", smf(0, division, [track(phrase(3))])


def wav(fmt_tag, bits, channels, rate, samples, extensible=False, extra_chunk=False):
    frames = len(samples[0])
    width = bits // 8
    data = bytearray()
    for i in range(frames):
        for c in range(channels):
            x = samples[c][i]
            if fmt_tag == 3:
                data += struct.pack("<f", x)
            elif bits == 8:
                data += bytes([int(round(x * 127)) + 128])
            else:
                v = int(round(x * (2 ** (bits - 1) - 1)))
                data += v.to_bytes(width, "little", signed=True)
    block = channels * width
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        guid = struct.pack("<H", fmt_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + guid
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunk:
        info = b"INFOISFT\x05\x00\x00\x00ddsp\x00\x00"  # odd-sized sub-chunk, padded
        chunks += b"LIST" + struct.pack("<I", len(info)) + info
    chunks += b"data" + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def tone(channels, rate, frames):
    return [[0.5 * math.sin(2 * math.pi * 220 * (c + 1) * i / rate) for i in range(frames)] for c in range(channels)]


def audio_seeds():
    yield "pcm16-mono-48k.wav", wav(1, 16, 1, 48000, tone(1, 48000, 600))
    yield "pcm24-stereo-44k.wav", wav(1, 24, 2, 44100, tone(2, 44100, 500), extra_chunk=True)
    yield "pcm8-mono-8k.wav", wav(1, 8, 1, 8000, tone(1, 8000, 301))
    yield "pcm32-6ch-96k.wav", wav(1, 32, 6, 96000, tone(6, 96000, 200), extensible=True)
    yield "float32-stereo-22k.wav", wav(3, 32, 2, 22050, tone(2, 22050, 400))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in list(midi_seeds()) + list(audio_seeds()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    ddsp = os.environ.get("DDSP_BIN")
    if ddsp:
        for src, dst, args in [("pcm16-mono-48k.wav", "mono16.flac", ["--master", "off", "--bit-depth", "16"]),
                               ("pcm24-stereo-44k.wav", "stereo24.flac", ["--master", "off", "--sample-rate", "44100"])]:
            subprocess.run([ddsp, "render", os.path.join(OUT, src), "-o", os.path.join(OUT, dst)] + args,
                           check=True, stdout=subprocess.DEVNULL)
    else:
        print("DDSP_BIN not set: FLAC seeds not written", file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} seed files, {total} bytes in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
