"""Negatives for keyword training: near misses and everyday words for ``_unknown_``.

A keyword model learns what its word is not from words that sound close to it
(:func:`near_misses`: "hey lumen" -> "hey lemon", "hey human", "lumen") and
from ordinary speech (:data:`UNKNOWN_WORDS`, :func:`unknown_words`).
Closeness is measured on espeak-ng's phonemes, so a respelling that sounds
exactly like the keyword (a homophone) is never offered as a negative.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from typing import Sequence

import numpy as np

from sdk.errors import ConfigError


def check_text(word: str) -> str:
    """The text to speak, or ConfigError for a keyword no engine can say (the one definition: TTS,
    near misses and the recipe's check all use it)."""
    if not isinstance(word, str) or not word.strip():
        raise ConfigError(f"tts: keyword {word!r} is empty; give the words to say")
    if not re.search(r"[^\W\d_]", word):
        raise ConfigError(f"tts: keyword {word!r} has no letters; spell numbers and symbols as words")
    return " ".join(word.split())


UNKNOWN_WORDS = (
    # Speech Commands' words plus everyday words: negatives for the _unknown_ class.
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero", "one", "two",
    "three", "four", "five", "six", "seven", "eight", "nine", "bed", "bird", "cat", "dog", "happy",
    "house", "marvin", "sheila", "tree", "wow", "backward", "forward", "follow", "learn", "visual",
    "hello", "okay", "please", "thanks", "water", "coffee", "music", "light", "lamp", "door",
    "window", "kitchen", "table", "chair", "phone", "paper", "morning", "evening", "today",
    "tomorrow", "weather", "time", "number", "people", "little", "family", "money", "open", "close",
    "start", "play", "pause", "next", "again", "maybe", "never", "always", "really", "because",
    "about", "after", "before", "under", "over", "never mind", "what", "where", "when", "why",
    "how", "who", "this", "that", "there", "here", "good", "great", "nice", "very", "much", "many",
    "some", "other", "another", "system", "computer", "garden", "yellow", "purple", "orange",
    "green", "blue", "red", "black", "white", "summer", "winter", "river", "mountain", "letter",
    "station", "window", "button", "silver", "doctor", "teacher", "student", "lemon", "melon",
    "human", "woman", "women", "moment", "common", "person", "season", "reason", "salmon",
    "demon", "lumber", "number", "summon", "ramen", "omen", "hey", "hay", "say", "day", "way",
    "okay google", "alexa", "hey siri", "what time is it", "turn it off", "call mom",
)
UNKNOWN_WORDS = tuple(dict.fromkeys(UNKNOWN_WORDS))  # drop repeats, keep order


def _phonemes(texts: Sequence[str]) -> list[tuple[str, ...]] | None:
    """espeak-ng phoneme tokens (stress dropped) per text; None without espeak-ng."""
    if shutil.which("espeak-ng") is None or not texts:
        return None
    done = subprocess.run(["espeak-ng", "-q", "-x", "--sep= ", "-v", "en-us"], input="\n".join(texts) + "\n",
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or len(lines) != len(texts):
        return None
    return [tuple(t.strip("',") for t in line.split() if t.strip("',")) for line in lines]


def _distance(a: Sequence, b: Sequence, *, drop=None, insert=None) -> int:
    """Levenshtein distance of two token sequences. ``drop(i)`` prices deleting ``a[i]`` and
    ``insert(i, y)`` inserting ``y`` after ``a[:i]`` (both 1 unless given); substitutions cost 1."""
    drop = drop or (lambda i: 1)
    insert = insert or (lambda i, y: 1)
    previous = [0]
    for y in b:
        previous.append(previous[-1] + insert(0, y))
    for i, x in enumerate(a, 1):
        current = [previous[0] + drop(i - 1)]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + drop(i - 1), current[j - 1] + insert(i, y), previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


# espeak-ng's reduced vowels (schwa, r-coloured schwa and kin): speakers and accents say them
# every which way ("cumputer", "computah"), so changing one does not make another word.
_REDUCED = frozenset({"@", "@2", "@5", "@-", "@L", "3", "I2", "I#", "a#", "i"})
_VOWEL_STARTS = frozenset("aeiouAEIOUV03@")  # first characters of espeak-ng's vowel phonemes


def _weak_variant(target: Sequence[str], other: Sequence[str]) -> bool:
    """Whether ``other`` differs from ``target`` only in ``target``'s reduced vowels: one changed,
    dropped or grown into several vowels. Such a respelling is the phrase in another accent."""
    def reduced(i: int) -> bool:
        return 0 <= i < len(target) and target[i] in _REDUCED

    # dropping a reduced vowel is free, and so is inserting vowels before one: together they change it
    # into any run of vowels (or none)
    return _distance(target, other, drop=lambda i: 0 if reduced(i) else 1,
                     insert=lambda i, y: 0 if reduced(i) and y[:1] in _VOWEL_STARTS else 1) == 0


_VOWELS = ("a", "e", "i", "o", "u", "ee", "oo", "ay", "ai", "ow")
_ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "w", "y", "br", "st", "tr", "sh", "ch")


def _spelling_neighbours(token: str) -> set[str]:
    """Respellings of one word with one vowel group or the onset replaced."""
    out = set()
    for match in re.finditer(r"[aeiouy]+", token):
        if match.start() == 0 and token[0] == "y":
            continue
        for vowel in _VOWELS:
            out.add(token[: match.start()] + vowel + token[match.end():])
    onset = re.match(r"[^aeiou]*", token).group(0)
    for new in _ONSETS + ("",):
        out.add(new + token[len(onset):])
    out.discard(token)
    return {w for w in out if re.search(r"[aeiouy]", w)}


def near_misses(word: str, *, count: int = 20) -> list[str]:
    """Up to ``count`` phrases that sound close to ``word`` but are not it.

    Candidates: each word of a phrase alone ("hey lumen" -> "lumen", "hey"),
    then one word replaced by a real word from :data:`UNKNOWN_WORDS` that
    sounds close ("hey lemon", "hey human"), then by a respelling with one
    vowel or onset changed ("hey lumin", "hey rumen"). Closeness is the
    espeak-ng phoneme edit distance (letters when espeak-ng is missing).
    Positions take turns, content words (those not in UNKNOWN_WORDS) first,
    so "lumen" gets as many neighbours as "hey". Candidates pronounced
    exactly like ``word`` are dropped: a homophone is a positive; so are
    those that change only its reduced vowels ("cumputer", "computir" for
    "computer"): that is how other accents say it, and real speakers who
    say it so would be taught to the model as negatives.
    """
    text = check_text(word).lower()
    tokens = text.split()
    vocabulary = [w for w in UNKNOWN_WORDS if " " not in w]
    per_position: list[list[tuple[str, bool]]] = []
    for i, token in enumerate(tokens):
        options = [(w, True) for w in vocabulary if w != token] + [(w, False) for w in sorted(_spelling_neighbours(token))]
        per_position.append([(" ".join(tokens[:i] + [new] + tokens[i + 1:]), real) for new, real in options])
    names = [name for options in per_position for name, _ in options]
    sounds = _phonemes([text, *tokens, *names])
    if sounds is None:
        target, token_sounds, keys = tuple(text), [tuple(t) for t in tokens], [tuple(n) for n in names]
    else:
        target, token_sounds, keys = sounds[0], sounds[1 : 1 + len(tokens)], sounds[1 + len(tokens) :]
    sound_of = dict(zip(names, keys))
    ranked_positions = []
    for i, options in enumerate(per_position):
        limit = max(2, round(0.6 * len(token_sounds[i])))
        scored = []
        for name, real in options:
            d = _distance(target, sound_of[name])
            if real and d > limit:
                continue  # an unrelated real word is an _unknown_ example, not a near miss
            if d > 0 and not (sounds is not None and _weak_variant(target, sound_of[name])):
                scored.append((not real, d, name))
        ranked_positions.append([name for *_, name in sorted(scored)])
    order = sorted(range(len(tokens)), key=lambda i: (tokens[i] in vocabulary, i))
    ordered = list(tokens) if len(tokens) > 1 else []
    for rank in range(max(len(r) for r in ranked_positions)):
        ordered += [ranked_positions[i][rank] for i in order if rank < len(ranked_positions[i])]
    chosen, seen_sounds = [], {target}
    alone_sounds = dict(zip(tokens, token_sounds))
    for name in ordered:
        sound = sound_of.get(name, alone_sounds.get(name))
        if sound in seen_sounds:
            continue
        seen_sounds.add(sound)
        chosen.append(name)
        if len(chosen) == count:
            break
    return chosen


def unknown_words(keywords: Sequence[str], *, count: int | None = None, seed: int = 0) -> list[str]:
    """Words from :data:`UNKNOWN_WORDS` that are none of ``keywords`` nor part of them."""
    banned = {w.lower() for k in keywords for w in [k, *k.split()]}
    words = [w for w in UNKNOWN_WORDS if w not in banned and not (set(w.split()) & banned)]
    if count is not None and count < len(words):
        picks = np.random.default_rng(seed).choice(len(words), size=count, replace=False)
        words = [words[i] for i in sorted(picks)]
    return words


def sentences(keywords: Sequence[str], *, count: int, seed: int = 0) -> list[str]:
    """``count`` random runs of 2-4 everyday words (none of them a word of ``keywords``).

    Negatives in the same synthetic voices as the positives: without them a
    model can tell its phrase from real talk by the voice alone.
    """
    banned = {w.lower() for k in keywords for w in [k, *k.split()]}
    words = [w for w in UNKNOWN_WORDS if " " not in w and w not in banned]
    rng = np.random.default_rng(seed)
    out = dict.fromkeys(" ".join(rng.choice(words, size=int(rng.integers(2, 5)), replace=False)) for _ in range(count))
    return list(out)
