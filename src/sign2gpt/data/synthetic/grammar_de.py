"""A small German weather-forecast grammar in the style of PHOENIX-2014T.

Each sample is a pair (gloss sequence in sign order, spoken German sentence). Glosses are
upper-case ASCII like the PHOENIX annotation (SUED, ZWOELF, WIE-AUSSEHEN); sentences are lower
case, with umlauts, ending in " ." like the PHOENIX `translation` column. The sign order follows
DGS habits, not the spoken order: time first, then the place (topic), then the weather, with
modifiers and numbers after their noun and the verb last (`MORGEN NORD REGEN` ↔ `morgen regnet
es im norden .`, `HEUTE NACHT TEMPERATUR MINUS FUENF GRAD` ↔ `heute nacht sinken die
temperaturen auf minus fünf grad .`). Spoken forms are inflected (wolken, lockere, gebieten,
starken, wärmer), so the pseudo-gloss stage has real lemmatisation to do.

Slot values are drawn with Zipf-like weights, so frequent combinations repeat as in real
broadcasts while the long tail keeps most sentences distinct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sign2gpt.data.synthetic.templates import draw_pair

LANGUAGE = "de"


@dataclass(frozen=True)
class Time:
    glosses: tuple[str, ...]
    adverbial: str  # sentence-initial form: "heute nacht", "am montag"
    fuer: str | None  # object of "für": "morgen", "das wochenende" (None: not used there)


@dataclass(frozen=True)
class Place:
    glosses: tuple[str, ...]
    phrase: str  # prepositional phrase: "im norden", "in vielen gebieten"
    direction: str | None  # "norden" for "aus norden" / "von norden"; None for regions


@dataclass(frozen=True)
class Weather:
    """One weather event; the sentence is <vorfeld> <verb> <subject> <place> <object> <particle>."""

    glosses: tuple[str, ...]
    verb: str
    subject: str
    obj: str
    particle: str = ""


TIMES = [
    Time(("MORGEN",), "morgen", "morgen"),
    Time(("HEUTE",), "heute", "heute"),
    Time(("HEUTE", "NACHT"), "heute nacht", "heute nacht"),
    Time(("NACHT",), "in der nacht", "die nacht"),
    Time(("TAG",), "am tag", None),
    Time(("WOCHENENDE",), "am wochenende", "das wochenende"),
    Time(("MORGEN", "ABEND"), "morgen abend", "morgen abend"),
    Time(("ABEND",), "am abend", "den abend"),
    Time(("SAMSTAG",), "am samstag", "samstag"),
    Time(("SONNTAG",), "am sonntag", "sonntag"),
    Time(("MONTAG",), "am montag", "montag"),
    Time(("DIENSTAG",), "am dienstag", "dienstag"),
]

PLACES = [
    Place(("NORD",), "im norden", "norden"),
    Place(("SUED",), "im süden", "süden"),
    Place(("WEST",), "im westen", "westen"),
    Place(("OST",), "im osten", "osten"),
    Place(("KUESTE",), "an der küste", None),
    Place(("BERG",), "in den bergen", None),
    Place(("NORDWEST",), "im nordwesten", "nordwesten"),
    Place(("MITTE",), "in der mitte", None),
    Place(("GEBIET", "VIEL"), "in vielen gebieten", None),
    Place(("ALPEN",), "an den alpen", None),
    Place(("SUEDOST",), "im südosten", "südosten"),
    Place(("OSTSEE",), "an der ostsee", None),
    Place(("NORDSEE",), "an der nordsee", None),
    Place(("NIEDERBAYERN",), "in niederbayern", None),
]
DIRECTIONS = [p for p in PLACES if p.direction]

# Weather events without and with a modifier gloss (the modifier follows its noun in DGS).
WEATHER = [
    Weather(("REGEN",), "regnet", "es", ""),
    Weather(("SONNE",), "scheint", "", "die sonne"),
    Weather(("WOLKE",), "ziehen", "", "wolken", "auf"),
    Weather(("GEWITTER",), "gibt", "es", "gewitter"),
    Weather(("SCHNEE",), "schneit", "es", ""),
    Weather(("SCHAUER",), "gibt", "es", "schauer"),
    Weather(("NEBEL",), "gibt", "es", "nebel"),
    Weather(("REGEN", "STARK"), "gibt", "es", "starken regen"),
    Weather(("WIND", "STARK"), "weht", "", "ein starker wind"),
    Weather(("WOLKE", "LOCKER"), "gibt", "es", "lockere wolken"),
    Weather(("FROST",), "gibt", "es", "frost"),
    Weather(("GEWITTER", "STARK"), "gibt", "es", "starke gewitter"),
    Weather(("WIND", "SCHWACH"), "weht", "", "ein schwacher wind"),
    Weather(("WOLKE", "DICHT"), "ziehen", "", "dichte wolken", "auf"),
    Weather(("NEBEL", "DICHT"), "gibt", "es", "dichten nebel"),
    Weather(("SONNE", "VIEL"), "gibt", "es", "viel sonne"),
    Weather(("WIND", "MAESSIG"), "weht", "", "ein mäßiger wind"),
    Weather(("SCHNEE", "VIEL"), "fällt", "", "viel schnee"),
    Weather(("WOLKE", "VIEL"), "gibt", "es", "viele wolken"),
]
PLAIN_WEATHER = [w for w in WEATHER if len(w.glosses) == 1]

# Weather that "comes from" a direction: (gloss, finite verb, noun phrase).
ARRIVING = [
    ("REGEN", "kommt", "regen"),
    ("WOLKE", "kommen", "wolken"),
    ("GEWITTER", "kommen", "gewitter"),
    ("SCHNEE", "kommt", "schnee"),
    ("SCHAUER", "kommen", "schauer"),
]

# Spoken number words for the number glosses, in increasing order.
NUMBERS = [
    ("FUENF", "fünf"),
    ("ACHT", "acht"),
    ("ZEHN", "zehn"),
    ("ZWOELF", "zwölf"),
    ("FUENFZEHN", "fünfzehn"),
    ("ACHTZEHN", "achtzehn"),
    ("ZWANZIG", "zwanzig"),
    ("DREISSIG", "dreißig"),
]

# (gloss, form after "bleibt es", comparative after "wird es")
STATES = [
    ("TROCKEN", "trocken", "trockener"),
    ("FREUNDLICH", "freundlich", "freundlicher"),
    ("KALT", "kalt", "kälter"),
    ("WARM", "warm", "wärmer"),
    ("WECHSELHAFT", "wechselhaft", "wechselhaft"),
]

# Pairs that alternate: "wechseln sich sonne und wolken ab".
ALTERNATING = [
    (("SONNE", "WOLKE"), "sonne und wolken"),
    (("WOLKE", "SONNE"), "wolken und sonne"),
    (("SONNE", "SCHAUER"), "sonne und schauer"),
    (("SONNE", "REGEN"), "sonne und regen"),
]


def _zipf(n: int, exponent: float = 0.8) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def _pick(rng: np.random.Generator, items: list, exponent: float = 0.8):
    return items[int(rng.choice(len(items), p=_zipf(len(items), exponent)))]


def _sentence(*parts: str) -> str:
    """Join non-empty parts and end PHOENIX style with " ."."""
    return " ".join(p for p in parts if p) + " ."


def _maybe_time(rng: np.random.Generator, p: float = 0.8) -> Time | None:
    return _pick(rng, TIMES) if rng.random() < p else None


def _maybe_place(rng: np.random.Generator, p: float = 0.7) -> Place | None:
    return _pick(rng, PLACES) if rng.random() < p else None


def _g(*parts: object) -> list[str]:
    """Flatten gloss parts (None skipped, tuples expanded)."""
    out: list[str] = []
    for p in parts:
        if p is None:
            continue
        if isinstance(p, str):
            out.append(p)
        else:
            out.extend(p)
    return out


# ---------------------------------------------------------------- templates


def _weather_event(rng: np.random.Generator) -> tuple[list[str], str]:
    """MORGEN NORD REGEN → morgen regnet es im norden ."""
    time, place = _maybe_time(rng), _maybe_place(rng)
    if time is None and place is None:
        place = _pick(rng, PLACES)
    w = _pick(rng, WEATHER, 0.6)
    glosses = _g(time and time.glosses, place and place.glosses, w.glosses)
    if time is not None:
        text = _sentence(time.adverbial, w.verb, w.subject, place and place.phrase, w.obj, w.particle)
    else:
        text = _sentence(place.phrase, w.verb, w.subject, w.obj, w.particle)
    return glosses, text


def _contrast(rng: np.random.Generator) -> tuple[list[str], str]:
    """NORD REGEN SUED SONNE → im norden regnet es und im süden scheint die sonne ."""
    time = _maybe_time(rng, 0.5)
    singles = [p for p in PLACES if len(p.glosses) == 1]
    i, j = rng.choice(len(singles), size=2, replace=False)
    p1, p2 = singles[int(i)], singles[int(j)]
    k, m = rng.choice(len(PLAIN_WEATHER), size=2, replace=False)
    w1, w2 = PLAIN_WEATHER[int(k)], PLAIN_WEATHER[int(m)]
    glosses = _g(time and time.glosses, p1.glosses, w1.glosses, p2.glosses, w2.glosses)
    if time is not None:
        first = (time.adverbial, w1.verb, w1.subject, p1.phrase, w1.obj, w1.particle)
    else:
        first = (p1.phrase, w1.verb, w1.subject, w1.obj, w1.particle)
    text = _sentence(*first, "und", p2.phrase, w2.verb, w2.subject, w2.obj, w2.particle)
    return glosses, text


def _temperature(rng: np.random.Generator) -> tuple[list[str], str]:
    """MORGEN SUED TEMPERATUR ZWOELF BIS ZWANZIG GRAD → morgen liegen die temperaturen ..."""
    time, place = _maybe_time(rng, 0.9), _maybe_place(rng, 0.5)
    pp = place and place.phrase
    kind = rng.random()
    if kind < 0.4:
        (g, n) = _pick(rng, NUMBERS, 0.3)
        glosses = _g(time and time.glosses, place and place.glosses, "TEMPERATUR", g, "GRAD")
        if time is not None:
            text = _sentence(time.adverbial, "erreichen die temperaturen", pp, n, "grad")
        else:
            text = _sentence("die temperaturen erreichen", pp, n, "grad")
    elif kind < 0.75:
        i, j = sorted(int(x) for x in rng.choice(len(NUMBERS), size=2, replace=False))
        (g1, n1), (g2, n2) = NUMBERS[i], NUMBERS[j]
        glosses = _g(time and time.glosses, place and place.glosses, "TEMPERATUR", g1, "BIS", g2, "GRAD")
        if time is not None:
            text = _sentence(time.adverbial, "liegen die temperaturen", pp,
                             "zwischen", n1, "und", n2, "grad")
        else:
            text = _sentence("die temperaturen liegen", pp, "zwischen", n1, "und", n2, "grad")
    else:
        (g, n) = _pick(rng, NUMBERS[:4], 0.3)
        night = _pick(rng, [t for t in TIMES if "NACHT" in t.glosses], 0.3)
        glosses = _g(night.glosses, place and place.glosses, "TEMPERATUR", "MINUS", g, "GRAD")
        text = _sentence(night.adverbial, "sinken die temperaturen", pp, "auf minus", n, "grad")
    return glosses, text


def _trend(rng: np.random.Generator) -> tuple[list[str], str]:
    """MONTAG TEMPERATUR STEIGEN → am montag steigen die temperaturen ."""
    time, place = _maybe_time(rng, 0.9), _maybe_place(rng, 0.4)
    verb_gloss, verb = (("STEIGEN", "steigen"), ("SINKEN", "sinken"))[int(rng.integers(2))]
    glosses = _g(time and time.glosses, place and place.glosses, "TEMPERATUR", verb_gloss)
    if time is not None:
        text = _sentence(time.adverbial, verb, "die temperaturen", place and place.phrase)
    else:
        text = _sentence("die temperaturen", verb, place and place.phrase)
    return glosses, text


def _wind_direction(rng: np.random.Generator) -> tuple[list[str], str]:
    """MORGEN WIND NORDWEST KOMMEN → morgen kommt der wind aus nordwesten ."""
    time = _maybe_time(rng, 0.7)
    d = _pick(rng, DIRECTIONS, 0.5)
    glosses = _g(time and time.glosses, "WIND", d.glosses, "KOMMEN")
    if time is not None:
        text = _sentence(time.adverbial, "kommt der wind aus", d.direction)
    else:
        text = _sentence("der wind kommt aus", d.direction)
    return glosses, text


def _arriving(rng: np.random.Generator) -> tuple[list[str], str]:
    """HEUTE REGEN WEST KOMMEN → heute kommt von westen regen ."""
    time = _maybe_time(rng, 0.8)
    d = _pick(rng, DIRECTIONS, 0.5)
    gloss, verb, noun = _pick(rng, ARRIVING, 0.5)
    glosses = _g(time and time.glosses, gloss, d.glosses, "KOMMEN")
    if time is not None:
        text = _sentence(time.adverbial, verb, "von", d.direction, noun)
    else:
        text = _sentence("von", d.direction, verb, noun)
    return glosses, text


def _state(rng: np.random.Generator) -> tuple[list[str], str]:
    """MORGEN OST TROCKEN BLEIBEN → morgen bleibt es im osten trocken ;
    SONNTAG WARM → am sonntag wird es wärmer ."""
    time, place = _maybe_time(rng, 0.9), _maybe_place(rng, 0.5)
    gloss, stay, comparative = _pick(rng, STATES, 0.5)
    pp = place and place.phrase
    if rng.random() < 0.5:
        glosses = _g(time and time.glosses, place and place.glosses, gloss, "BLEIBEN")
        verb, adjective = "bleibt", stay
    else:
        weather = rng.random() < 0.3
        glosses = _g(time and time.glosses, place and place.glosses,
                     "WETTER" if weather else None, gloss)
        verb, adjective = "wird", (stay if weather else comparative)
        if weather:
            head = (time.adverbial, verb, "das wetter") if time else ("das wetter", verb)
            return glosses, _sentence(*head, pp, adjective)
    head = (time.adverbial, verb, "es") if time else ("es", verb)
    return glosses, _sentence(*head, pp, adjective)


def _alternating(rng: np.random.Generator) -> tuple[list[str], str]:
    """MORGEN SONNE WOLKE WECHSEL → morgen wechseln sich sonne und wolken ab ."""
    time, place = _maybe_time(rng, 0.8), _maybe_place(rng, 0.5)
    pair, phrase = _pick(rng, ALTERNATING, 0.8)
    glosses = _g(time and time.glosses, place and place.glosses, pair, "WECHSEL")
    if time is not None:
        text = _sentence(time.adverbial, "wechseln sich", place and place.phrase, phrase, "ab")
    else:
        text = _sentence(phrase, "wechseln sich", place and place.phrase, "ab")
    return glosses, text


def _introduction(rng: np.random.Generator) -> tuple[list[str], str]:
    """JETZT WETTER WIE-AUSSEHEN MORGEN → und nun die wettervorhersage für morgen ."""
    time = _pick(rng, [t for t in TIMES if t.fuer], 1.2)
    return _g("JETZT", "WETTER", "WIE-AUSSEHEN", time.glosses), _sentence(
        "und nun die wettervorhersage für", time.fuer
    )


def _greeting(rng: np.random.Generator) -> tuple[list[str], str]:
    """ABEND SCHOEN WUENSCHEN → ich wünsche ihnen einen schönen abend ."""
    r = rng.random()
    if r < 0.35:
        return ["LIEB", "ZUSCHAUER", "GUT", "ABEND"], "guten abend liebe zuschauer ."
    if r < 0.45:
        return ["GUT", "ABEND", "ZUSCHAUER"], "ihnen allen einen guten abend ."
    which = _pick(rng, [("ABEND", "einen schönen abend"), ("WOCHENENDE", "ein schönes wochenende"),
                        ("TAG", "einen schönen tag")], 1.0)
    return [which[0], "SCHOEN", "WUENSCHEN"], _sentence("ich wünsche ihnen", which[1])


TEMPLATES = [
    (_weather_event, 0.30),
    (_temperature, 0.16),
    (_contrast, 0.08),
    (_state, 0.12),
    (_alternating, 0.06),
    (_arriving, 0.07),
    (_wind_direction, 0.05),
    (_trend, 0.06),
    (_introduction, 0.05),
    (_greeting, 0.05),
]


def sample_pair(rng: np.random.Generator) -> tuple[list[str], str]:
    """Draw one (glosses, sentence) pair; resample until 2..7 glosses and no sun at night."""
    glosses, text = draw_pair(TEMPLATES, rng, accept=lambda g: not ("SONNE" in g and "NACHT" in g))
    return glosses, " ".join(text.split())


def vocabulary() -> list[str]:
    """Every gloss the grammar can produce (sorted)."""
    g: set[str] = {"TEMPERATUR", "GRAD", "BIS", "MINUS", "STEIGEN", "SINKEN", "KOMMEN", "BLEIBEN",
                   "WETTER", "WECHSEL", "JETZT", "WIE-AUSSEHEN", "LIEB", "ZUSCHAUER", "GUT",
                   "SCHOEN", "WUENSCHEN", "ABEND", "TAG", "WOCHENENDE", "WIND"}
    for t in TIMES:
        g.update(t.glosses)
    for p in PLACES:
        g.update(p.glosses)
    for w in WEATHER:
        g.update(w.glosses)
    for a, _, _ in ARRIVING:
        g.add(a)
    g.update(n for n, _ in NUMBERS)
    g.update(s for s, _, _ in STATES)
    for pair, _ in ALTERNATING:
        g.update(pair)
    return sorted(g)
