"""Undo the common ways people disguise words from moderation: the one normaliser of modserve.

The text models read ``normalize(text)``; the regex fallback's lexicon and the policies'
blocklists match against ``match_form(text)``, the same text with case and accents folded
away, so a word disguised past one of them is disguised past none.

Why: the models learned words as people usually write them. "st.upid", "f u c k", "sh1t",
"ѕtupid" with a Cyrillic "ѕ", zero-width spaces and zalgo marks all read the same to a person
but not to a tokenizer or a character n-gram model. ``normalize`` maps such text back to the
plain form, and is careful not to damage genuine text: numbers ("2024", "$5", "10:30"),
URLs, e-mail addresses, @mentions, Cyrillic/Greek/Chinese text and emoji pass unchanged.

The steps, in order (each a precompiled regex or ``str.translate``; ASCII text skips 1-3):

1. Generic combining diacritics (what zalgo stacks, and single marks typed after a letter:
   "fu\u0301ck") and all format characters (Cf: zero-width spaces/joiners, bidi controls, soft
   hyphens, BOM) are removed, except a zero-width joiner between two pictographs, which is part
   of one emoji (the rainbow flag is a white flag, a joiner and a rainbow), and the tag
   characters that make a black flag a subdivision flag (Scotland, Wales). Then Unicode NFKC
   (fullwidth, mathematical and circled letters, ligatures become plain letters). Precomposed
   accented letters ("café", "Straße") are kept; only text typed in decomposed form loses its
   accents. Script-specific marks (Devanagari vowel signs, Arabic harakat) are kept.
2. Latin small capitals and similar Latin look-alikes (ᴀ ʙ ᴄ, ɡ, ɑ) become plain letters.
3. Cyrillic and Greek letters that look like Latin ones (а е о р с у х і ѕ ј ԁ, α ο ρ ν γ …)
   become Latin inside words that also contain Latin letters, or everywhere when the text has
   Latin letters and no Cyrillic/Greek letter without a Latin twin. Genuine Cyrillic or Greek
   text always contains such letters, so it is left alone.
4. Runs of 3+ single letters split by spaces or punctuation are joined ("f u c k",
   "f.u.c.k", "s-t-u-p-i-d" → "fuck", "stupid"; "U.S.A." → "USA."; "U.S." is left alone; a
   leading article stays a word: "a f u c k" → "a fuck").
5. Leetspeak inside words that are mostly letters: 1→i 3→e 4→a 0→o 5→s 7→t @→a $→s !→i.
   Tokens that look like numbers, units, ordinals, times, money or model names ("10pm", "1st",
   "4k", "mp3", "$5k", "US$", "covid19") are left alone, as are words with the digits 2, 6, 8
   or 9, and tokens with more digits than letters unless they are 5+ characters and lower
   case ("1d10t" → "idiot"; "4x4", "A13B7" stay). Known misses, by design: "@ss" (reads as an
   @mention), "hell0" (letters then digits reads as a model name). Before step 6, so that
   "r.3tard" has its letters back when the "." is judged.
6. Punctuation inside a word is removed ("st.upid", "id*iot", "id_iot" → "stupid", "idiot")
   when a part has 2+ letters and a part at most 3 (so "great.thanks" stays two words); for
   "." also no part longer than 6 and no capital after it ("Ph.D", "Mr.Smith", "choïgou.le"
   stay). Self-censored spellings with one letter beside a "*" ("f*ck", "sh*t") are kept as
   written (and so, a known miss, is "f*ucking"). Hyphens, apostrophes, slashes and commas are
   real word punctuation and are kept.
7. Letters held down: a run of 3+ lower-case a, h, i, j, q, u, v, w or y — letters English
   almost never doubles — becomes one ("stuuupid" → "stupid", "heyyy" → "hey"); any other
   letter repeated 3+ times is cut to 2 ("fuccck" → "fucck"), which keeps real double letters
   ("bookkeeper") without a dictionary, except at the start of a lower-case word, where it is
   one ("ssstupid" → "stupid": no English word starts with a tripled letter; "kkk" alone is a
   word and stays "kk"). "III", "XXX", "CCC", "MMM" are numerals and stay.
8. Symbols held down: a run of 4+ of the same emoji or punctuation mark (with its variation
   selector or skin tone; an emoji joined from several, too) is cut to 3 ("🔥" × 20 →
   "🔥🔥🔥", "!!!!!!" → "!!!"). The models saw few long runs, and one reads far from anything
   they were fit on (twenty fire emoji once scored sexual 0.76, three 0.10). Runs of 3 are
   kept, so the "(((echo)))" of antisemitic posts still reads as written.

Case is kept (the encoder is uncased). URLs, e-mail addresses, bare domains and @mentions are
protected from steps 4-8. Pure Python and ``re``; see the tests for the exact behaviour.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# --- step 1: Unicode clean-up ----------------------------------------------------------------

# Format characters (Unicode category Cf, as of Unicode 14 / Python 3.11; a test checks).
_CF_RANGES = (
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
# Generic combining diacritics (what zalgo stacks), not the marks of any one script.
_MARK_RANGES = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)


# A zero-width joiner between two pictographs is part of one emoji ("🏳️‍🌈" is the rainbow
# flag, "🐈‍⬛" a black cat; without it they read "white flag rainbow", "cat black"): it is kept
# there, after a pictograph, its variation selector or skin tone, and before a pictograph.
_ZWJ = "\u200d"
_PICTOGRAPH = "\u2194-\u21aa\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"


def _without(ranges: tuple[tuple[int, int], ...], point: int) -> tuple[tuple[int, int], ...]:
    """``ranges`` less one code point."""
    return tuple(
        (lo, hi)
        for a, b in ranges
        for lo, hi in (((a, point - 1), (point + 1, b)) if a <= point <= b else ((a, b),))
        if lo <= hi
    )


# Tag characters spell a subdivision flag after a black flag ("🏴" + "gbsct" + cancel tag is
# Scotland's flag; without them it reads "black flag"); anywhere else they are invisible text.
_FLAG_TAGS = "(?<=\U0001f3f4)[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,6}\U000e007f"
_STRIP = re.compile(
    f"({_FLAG_TAGS})"
    f"|[{_char_class(_MARK_RANGES)}{_char_class(_without(_CF_RANGES, ord(_ZWJ)))}]+"
    f"|(?<![{_PICTOGRAPH}\ufe0f]){_ZWJ}|{_ZWJ}(?![{_PICTOGRAPH}])"
)


def _unicode_clean(text: str) -> str:
    # Before NFKC, so a typed-in mark ("fu\u0301ck") never composes into an accented letter;
    # after, for marks NFKC itself leaves behind. A flag's tags are kept (group 1).
    return _STRIP.sub(r"\1", unicodedata.normalize("NFKC", _STRIP.sub(r"\1", text)))


# --- steps 2-3: look-alike letters -----------------------------------------------------------

_LATIN_LOOKALIKES = str.maketrans(
    "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɡɑɩ",
    "abcdefghijklmnoprstuvwyzgai",
)
_CONFUSABLE_FROM = "аеорсухіѕјԁһӏԛԝүАВЕКМНОРСТХУІЈЅӀԚԜҮαικνορυχγΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
_CONFUSABLE_TO = "aeopcyxisjdhlqwyABEKMHOPCTXYIJSIQWYaikvopuxyABEZHIKMNOPTYX"
_CONFUSABLES = str.maketrans(_CONFUSABLE_FROM, _CONFUSABLE_TO)
_HAS_CONFUSABLE = re.compile(f"[{_CONFUSABLE_FROM}]")
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_HAS_LATIN = re.compile(f"[{_LATIN}]")
# A Cyrillic or Greek letter with no Latin twin: the text is genuinely Cyrillic/Greek.
_GENUINE = re.compile(f"(?![{_CONFUSABLE_FROM}])[\u0370-\u03ff\u0400-\u052f\u1f00-\u1fff]")
_WORD = re.compile(r"\w+")


def _unconfuse_word(m: re.Match[str]) -> str:
    word = m.group()
    if _HAS_LATIN.search(word) and _HAS_CONFUSABLE.search(word):
        return word.translate(_CONFUSABLES)
    return word


def _unconfuse(text: str) -> str:
    text = text.translate(_LATIN_LOOKALIKES)
    if not _HAS_CONFUSABLE.search(text) or not _HAS_LATIN.search(text):
        return text
    if not _GENUINE.search(text):
        return text.translate(_CONFUSABLES)
    return _WORD.sub(_unconfuse_word, text)  # genuine Cyrillic/Greek here: mixed words only


# --- steps 4-8: split letters, inner punctuation, leetspeak, repeated letters and symbols ---

_TLDS = "com|net|org|edu|gov|io|co|uk|de|fr|ru|info|biz|me|tv|ly|app|dev|ai|us|ca|au|in|xyz"
# Each alternative may only start where a token starts, so a failed try costs one token.
_PROTECTED = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|(?<![\w@])@\w+"  # @mentions
    rf"|(?<![\w.-])(?:[\w-]+\.)+(?:{_TLDS})\b(?:/\S*)?",  # bare domains
    re.IGNORECASE,
)

# Cheap scans (a literal or a small character set first) that rule most texts out of a step.
_MAY_PROTECT = re.compile(rf"@|://|www\.|\.(?:{_TLDS})\b", re.IGNORECASE)

_LETTER = r"[^\W\d_]"
_SPACED = re.compile(rf"(?<![^\W_]){_LETTER}(?:[ .\-_*+~|·•]{{1,3}}{_LETTER}(?![^\W_])){{2,}}")
_NOT_LETTER = re.compile(r"[\W\d_]+")


def _join_spaced(m: re.Match[str]) -> str:
    run = m.group()
    letters = _NOT_LETTER.sub("", run)
    if len(letters) > 4 and letters[0] in "aAI" and run[1].isspace():
        return f"{letters[0]} {letters[1:]}"  # "a f u c k" is the article and a word
    return letters


_INNER = re.compile(rf"(?<!{_LETTER}){_LETTER}+(?:[.*~·•^_]{{1,2}}{_LETTER}+)+")
_INNER_SEP = re.compile(r"[.*~·•^_]+")
_MAY_INNER = re.compile(rf"[.*~·•^_](?<={_LETTER}.)[.*~·•^_]?{_LETTER}")
_DOT_CAPITAL = re.compile(r"\.[^\W\d_]")


def _drop_inner_punct(m: re.Match[str]) -> str:
    word = m.group()
    parts = _INNER_SEP.split(word)
    lengths = [len(p) for p in parts]
    if max(lengths) < 2 or any(d[1].isupper() for d in _DOT_CAPITAL.findall(word)):
        return word  # an abbreviation ("e.g", "U.S") or a missing space before a sentence
    if min(lengths) > 3 or ("." in word and max(lengths) > 6):
        return word  # two words with a missing space ("great.thanks", "choïgou.le")
    if "*" in word and min(lengths) == 1:
        return word  # a self-censored spelling ("f*ck") is kept as people write it
    return "".join(parts)


_LEET_TOKEN = re.compile(
    r"(?<![A-Za-z0-9@$!])[A-Za-z0-9@$!]*"
    r"(?:[A-Za-z][013457@$!]|[013457@$][A-Za-z])[A-Za-z0-9@$!]*"
)
_MAY_LEET = re.compile(r"[013457@$!]")
_LEET = str.maketrans("134057@$!", "ieaostasi")
_NOT_LEET = re.compile(
    r"[0-9]+(?:st|nd|rd|th|s|am|pm|[kmbgxpdhv]|hrs?|mins?|secs?|kg|km|cm|mm|ml|mg|gb|mb|kb|tb"
    r"|ghz|mhz|hz|px|fps|mph|lbs?|oz|ft|yo|yrs?|ish)"  # numbers with a unit or suffix
    r"|[A-Za-z]+[0-9]+"  # model names and handles: mp3, ps4, iphone7
    r"|[A-Z]{1,3}\$"  # currencies: US$, R$
    r"|.*(?:[2689]|\$[0-9]|[0-9]\$|!!|(?-i:[a-z]![A-Z])|[a-z]{4}![a-z]{4}).*",  # other digits,
    # money, "!!" emphasis, and "!" between two sentences or two whole words
    re.IGNORECASE,
)


def _unleet(m: re.Match[str]) -> str:
    token = m.group()
    core = token.strip("!@")  # at the edges they are punctuation, not letters
    if not core or _NOT_LEET.fullmatch(core):
        return token
    digits = sum(ch.isdigit() for ch in core)
    if digits > len(core) - digits and (len(core) < 5 or not core.islower()):
        return token  # mostly digits: a number or a code ("A13B7"), unless long and lower case

    start = token.index(core)
    return token[:start] + core.translate(_LEET) + token[start + len(core) :]


_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
# Lower-case letters English almost never doubles: a held-down run of them is one letter
# ("stuuupid", "heyyy"). Upper case is left at two ("WWIII" is a numeral, not a stutter).
_REPEAT_SINGLE = re.compile(r"([ahijquvwy])\1{2,}")
_ROMAN_RUN = frozenset({"III", "XXX", "CCC", "MMM"})
# No English word starts with a tripled letter, nor with a double one but a handful ("llama",
# "eerie"): a lower-case run of 3+ that starts a longer word is one letter ("ssstupid").
_REPEAT_START = re.compile(r"(?<![^\W\d_])([a-z])\1{2,}(?=[a-z])")


def _cut_repeat(m: re.Match[str]) -> str:
    run = m.group()
    return run if run in _ROMAN_RUN else run[:2]  # "WWIII", "MMM" are numerals


def _unrepeat(text: str) -> str:
    text = _REPEAT_SINGLE.sub(r"\1", _REPEAT_START.sub(r"\1", text))
    return _REPEAT.sub(_cut_repeat, text)


# One symbol (with its variation selector or skin tone), or an emoji of up to four joined by
# zero-width joiners (the shortest that repeats); a run of it may be joined too ("🔥‍🔥‍🔥‍🔥").
_SYMBOL = f"[^\\w\\s{_ZWJ}][\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]?"
_SYMBOL_RUN = re.compile(f"((?:{_SYMBOL}{_ZWJ}){{0,3}}?{_SYMBOL})(?:{_ZWJ}?\\1){{3,}}")

# Each step: (a cheap scan that must find something, the rewrite).
_WORD_STEPS: tuple[tuple[re.Pattern[str] | None, Callable[[str], str]], ...] = (
    (None, lambda s: _SPACED.sub(_join_spaced, s)),
    (_MAY_LEET, lambda s: _LEET_TOKEN.sub(_unleet, s)),  # first: "r.3tard" needs its "e"
    (_MAY_INNER, lambda s: _INNER.sub(_drop_inner_punct, s)),
    (_REPEAT, _unrepeat),
    (_SYMBOL_RUN, lambda s: _SYMBOL_RUN.sub(r"\1\1\1", s)),
)


def _fix_words(segment: str) -> str:
    for scan, step in _WORD_STEPS:
        if scan is None or scan.search(segment):
            segment = step(segment)
    return segment


def _deobfuscate(text: str) -> str:
    """Steps 4-8 on everything outside URLs, e-mail addresses, domains and @mentions."""
    if not _MAY_PROTECT.search(text):
        return _fix_words(text)
    out: list[str] = []
    pos = 0
    for m in _PROTECTED.finditer(text):
        out += (_fix_words(text[pos : m.start()]), m.group())
        pos = m.end()
    out.append(_fix_words(text[pos:]))
    return "".join(out)


def normalize(text: str) -> str:
    """The plain form of ``text``: the input of every text model, in training and serving."""
    if not text.isascii():
        text = _unconfuse(_unicode_clean(text))
    return _deobfuscate(text)


def _strip_accents(text: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


def match_form(text: str) -> str:
    """``normalize`` with case and accents folded: what word lists are matched against."""
    folded = normalize(text).casefold()
    return folded if folded.isascii() else _strip_accents(folded)
