"""A small Chinese daily-life grammar in the style of CSL-Daily.

Each sample is a pair (gloss sequence in sign order, spoken Chinese sentence). Glosses are
Chinese words separated by spaces as in the CSL-Daily gloss annotation; the sentence is written
in characters without spaces and ends in 。 or ？. The sign order is the usual CSL one, not the
spoken order: time first, then the subject, the object or place before the verb, and negation
and question words last (`明天 我 医院 去` ↔ `我明天去医院。`, `我 电影 看 喜欢 不` ↔
`我不喜欢看电影。`, `你 名字 什么` ↔ `你叫什么名字？`). Spoken sentences add function
characters that have no sign (在, 很, 了, 会, 叫), as real translations do.
"""

from __future__ import annotations

import numpy as np

from sign2gpt.data.synthetic.templates import draw_pair

LANGUAGE = "zh"

PERSONS = ["我", "你", "他", "妈妈", "朋友", "爸爸", "老师", "同学"]
# (time gloss = spoken word, past?) — past times take 了 in the spoken sentence.
TIMES = [("明天", False), ("今天", False), ("晚上", False), ("周末", False), ("早上", False),
         ("昨天", True)]
PLACES = ["医院", "学校", "商店", "家", "公园", "银行", "图书馆", "饭店"]
VEHICLES = ["地铁", "公交车", "出租车"]
# verb → objects it takes
ACTIONS = {
    "吃": ["饭", "苹果"],
    "喝": ["水", "茶"],
    "买": ["衣服", "书", "苹果", "手机"],
    "看": ["书", "电影"],
}
# place → verb-object actions that make sense there
ACTIONS_AT = {
    "家": [("吃", "饭"), ("看", "电影"), ("喝", "茶"), ("看", "书")],
    "商店": [("买", "衣服"), ("买", "手机"), ("买", "苹果")],
    "图书馆": [("看", "书")],
    "饭店": [("吃", "饭"), ("喝", "茶")],
    "公园": [("喝", "水"), ("看", "书")],
}
WORKPLACES = {"工作": ["医院", "学校", "银行", "商店", "饭店"], "学习": ["学校", "图书馆", "家"]}
FEELINGS = ["忙", "累", "高兴", "好"]
WEATHER_ADJ = ["冷", "热", "好"]


def _zipf(n: int, exponent: float = 0.8) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def _pick(rng: np.random.Generator, items: list, exponent: float = 0.8):
    return items[int(rng.choice(len(items), p=_zipf(len(items), exponent)))]


def _maybe_time(rng: np.random.Generator, p: float = 0.7) -> tuple[str, bool] | None:
    return _pick(rng, TIMES) if rng.random() < p else None


def _tg(time: tuple[str, bool] | None) -> list[str]:
    return [time[0]] if time else []


def _ts(time: tuple[str, bool] | None) -> str:
    return time[0] if time else ""


# ---------------------------------------------------------------- templates


def _go(rng: np.random.Generator) -> tuple[list[str], str]:
    """明天 我 医院 去 → 我明天去医院。 (想 / 不 after the verb in signing)."""
    time, person = _maybe_time(rng), _pick(rng, PERSONS)
    place = _pick(rng, PLACES)
    verb = "回" if place == "家" else "去"
    r = rng.random()
    if r < 0.2:
        return _tg(time) + [person, place, verb, "想"], f"{person}{_ts(time)}想{verb}{place}。"
    if r < 0.3 and not (time and time[1]):
        return _tg(time) + [person, place, verb, "不"], f"{person}{_ts(time)}不{verb}{place}。"
    past = "了" if time and time[1] else ""
    return _tg(time) + [person, place, verb], f"{person}{_ts(time)}{verb}{place}{past}。"


def _ride(rng: np.random.Generator) -> tuple[list[str], str]:
    """早上 我 地铁 坐 学校 去 → 我早上坐地铁去学校。"""
    time, person = _maybe_time(rng, 0.6), _pick(rng, PERSONS)
    vehicle = _pick(rng, VEHICLES, 0.5)
    place = _pick(rng, [p for p in PLACES if p != "家"])
    glosses = _tg(time) + [person, vehicle, "坐", place, "去"]
    return glosses, f"{person}{_ts(time)}坐{vehicle}去{place}。"


def _do(rng: np.random.Generator) -> tuple[list[str], str]:
    """我 苹果 吃 → 我吃苹果。 ; 我 电影 看 喜欢 不 → 我不喜欢看电影。"""
    time, person = _maybe_time(rng, 0.5), _pick(rng, PERSONS)
    verb = _pick(rng, list(ACTIONS), 0.3)
    obj = _pick(rng, ACTIONS[verb], 0.3)
    r = rng.random()
    if r < 0.25:
        return [person, obj, verb, "喜欢"], f"{person}喜欢{verb}{obj}。"
    if r < 0.35:
        return [person, obj, verb, "喜欢", "不"], f"{person}不喜欢{verb}{obj}。"
    if r < 0.5:
        return _tg(time) + [person, obj, verb, "想"], f"{person}{_ts(time)}想{verb}{obj}。"
    past = "了" if time and time[1] else ""
    return _tg(time) + [person, obj, verb], f"{person}{_ts(time)}{verb}{past}{obj}。"


def _do_at(rng: np.random.Generator) -> tuple[list[str], str]:
    """周末 他 商店 衣服 买 → 他周末在商店买衣服。"""
    time, person = _maybe_time(rng, 0.6), _pick(rng, PERSONS)
    place = _pick(rng, list(ACTIONS_AT), 0.5)
    verb, obj = _pick(rng, ACTIONS_AT[place], 0.5)
    glosses = _tg(time) + [person, place, obj, verb]
    return glosses, f"{person}{_ts(time)}在{place}{verb}{obj}。"


def _work(rng: np.random.Generator) -> tuple[list[str], str]:
    """妈妈 医院 工作 → 妈妈在医院工作。"""
    person = _pick(rng, PERSONS)
    verb = "工作" if rng.random() < 0.6 else "学习"
    place = _pick(rng, WORKPLACES[verb], 0.5)
    time = _maybe_time(rng, 0.3)
    return _tg(time) + [person, place, verb], f"{person}{_ts(time)}在{place}{verb}。"


def _feeling(rng: np.random.Generator) -> tuple[list[str], str]:
    """今天 我 累 → 我今天很累。 ; 我 忙 不 → 我不忙。"""
    time, person = _maybe_time(rng, 0.6), _pick(rng, PERSONS)
    adjective = _pick(rng, FEELINGS, 0.5)
    if rng.random() < 0.3:
        return _tg(time) + [person, adjective, "不"], f"{person}{_ts(time)}不{adjective}。"
    return _tg(time) + [person, adjective], f"{person}{_ts(time)}很{adjective}。"


def _weather(rng: np.random.Generator) -> tuple[list[str], str]:
    """明天 天气 冷 → 明天天气很冷。 ; 明天 下雨 → 明天会下雨。"""
    time = _pick(rng, TIMES)
    if rng.random() < 0.35:
        tail = "下雨了" if time[1] else "会下雨"
        return [time[0], "下雨"], f"{time[0]}{tail}。"
    adjective = _pick(rng, WEATHER_ADJ, 0.5)
    return [time[0], "天气", adjective], f"{time[0]}天气很{adjective}。"


def _question(rng: np.random.Generator) -> tuple[list[str], str]:
    """你 名字 什么 → 你叫什么名字？ ; 明天 你 学校 去 吗 → 你明天去学校吗？"""
    r = rng.random()
    person = _pick(rng, PERSONS[1:])
    if r < 0.2:
        return [person, "名字", "什么"], f"{person}叫什么名字？"
    if r < 0.4:
        return [person, "家", "哪里"], f"{person}家在哪里？"
    if r < 0.55:
        time = _maybe_time(rng, 0.5)
        return _tg(time) + [person, "去", "哪里"], f"{person}{_ts(time)}去哪里？"
    if r < 0.65:
        who = ("他", "你")[int(rng.integers(2))]
        return [who, "谁"], f"{who}是谁？"
    time = _maybe_time(rng, 0.6)
    place = _pick(rng, [p for p in PLACES if p != "家"])
    return _tg(time) + [person, place, "去", "吗"], f"{person}{_ts(time)}去{place}吗？"


def _polite(rng: np.random.Generator) -> tuple[list[str], str]:
    """你 帮助 我 谢谢 → 谢谢你帮助我。 ; 对不起 我 迟到 → 对不起，我迟到了。"""
    r = rng.random()
    if r < 0.5:
        helper = _pick(rng, [p for p in PERSONS if p != "我"])
        return [helper, "帮助", "我", "谢谢"], f"谢谢{helper}帮助我。"
    if r < 0.8:
        return ["对不起", "我", "迟到"], "对不起，我迟到了。"
    return ["没关系", "担心", "不"], "没关系，不用担心。"


TEMPLATES = [
    (_go, 0.22),
    (_do, 0.18),
    (_do_at, 0.12),
    (_ride, 0.07),
    (_work, 0.08),
    (_feeling, 0.1),
    (_weather, 0.08),
    (_question, 0.1),
    (_polite, 0.05),
]


def sample_pair(rng: np.random.Generator) -> tuple[list[str], str]:
    """Draw one (glosses, sentence) pair; resample until 2..7 glosses."""
    return draw_pair(TEMPLATES, rng)


def vocabulary() -> list[str]:
    """Every gloss the grammar can produce (sorted)."""
    g = set(PERSONS) | {t for t, _ in TIMES} | set(PLACES) | set(VEHICLES) | set(FEELINGS)
    g |= set(WEATHER_ADJ) | set(ACTIONS) | {o for objs in ACTIONS.values() for o in objs}
    g |= set(WORKPLACES) | {"回", "去", "想", "不", "喜欢", "坐", "天气", "下雨", "名字", "什么",
                            "哪里", "谁", "吗", "帮助", "谢谢", "对不起", "迟到", "没关系",
                            "担心"}
    return sorted(g)
