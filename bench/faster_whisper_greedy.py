"""faster-whisper's settings for the benchmarks' comparisons with lwasr: greedy, beam 1, one temperature, no
timestamps, no VAD, no conditioning on the previous text (what lwasr's greedy decoding does)."""

GREEDY = dict(
    beam_size=1,
    best_of=1,
    temperature=0.0,
    without_timestamps=True,
    vad_filter=False,
    condition_on_previous_text=False,
)
