"""Pseudo-gloss extraction speed: sentences per second on one core, German and Chinese.

Corpus: a few thousand mostly unique sentences built here from word lists (German weather
forecasts, Chinese daily life), so that the taggers' caches do not flatter the figure; with
`--synthetic` the corpus comes from the synthetic grammar (`sign2gpt.data.synthetic`) instead.
The timed part is `extract_pseudo_glosses` (nlp.pipe + the UPOS filter) on the unique sentences
with a freshly built offline pipeline (empty caches); loading the pipeline is timed separately.
The process is pinned to one core; `sentences_per_s` divides by the process's CPU time (so other
jobs on a shared machine do not distort it), `sentences_per_wall_s` by wall-clock time.

Run:  .venv/bin/python benchmarks/pseudo_glosses.py [--n 4000] [--synthetic]
Writes benchmarks/pseudo_glosses.json and prints it as the last line.
Targets: >= 1,000 sentences/s German, >= 5,000 Chinese.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import time
from pathlib import Path

DE_TIMES = ["heute", "morgen", "übermorgen", "am montag", "am dienstag", "am mittwoch", "am donnerstag",
            "am freitag", "am samstag", "am sonntag", "in der nacht", "am abend", "am nachmittag",
            "am vormittag", "am wochenende", "im laufe des tages", "in der neuen woche", "zum wochenende hin"]
DE_REGIONS = ["im norden", "im süden", "im osten", "im westen", "im nordwesten", "im südosten", "im nordosten",
              "im südwesten", "an der küste", "an den alpen", "in bayern", "in sachsen", "an der ostsee",
              "an der nordsee", "im bergland", "in niederbayern", "in der mitte", "am rhein", "in brandenburg",
              "in schleswig-holstein", "im schwarzwald", "an der donau", "in thüringen", "im harz",
              "in mecklenburg-vorpommern", "im emsland", "am oberrhein", "im allgäu", "in hessen", "im saarland"]
DE_ADJ = ["schwach", "mäßig", "stark", "kräftig", "leicht", "dicht", "locker", "frisch", "stürmisch", "böig"]
DE_STATE = ["trocken", "freundlich", "sonnig", "neblig", "kühl", "warm", "frostig", "wechselhaft", "heiter",
            "bewölkt", "mild", "unbeständig"]
DE_DIRS = ["nord", "süd", "ost", "west", "nordwest", "südost", "nordost", "südwest"]
DE_NUMS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
           "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn",
           "zwanzig", "einundzwanzig", "fünfundzwanzig", "dreißig", "minus fünf", "minus zehn"]
DE_CLOSINGS = ["ich wünsche ihnen noch einen schönen abend", "machen sie es gut",
               "und jetzt die aussichten", "das wetter bleibt also spannend", "bis morgen"]


def _de_inflect(adj: str, ending: str) -> str:
    return adj + ending


def german_sentence(r: random.Random) -> str:
    adj = lambda e: _de_inflect(r.choice(DE_ADJ), e)  # noqa: E731
    clauses = [
        lambda: f"gibt es {r.choice(DE_REGIONS)} {adj('en')} regen",
        lambda: f"scheint {r.choice(DE_REGIONS)} die sonne",
        lambda: f"ziehen {r.choice(DE_REGIONS)} {adj('e')} wolken auf",
        lambda: f"fällt {r.choice(DE_REGIONS)} schnee oberhalb von "
                f"{r.choice(['fünfhundert', 'tausend', 'achthundert'])} metern",
        lambda: f"weht ein {adj('er')} bis {adj('er')} wind aus {r.choice(DE_DIRS)}",
        lambda: f"bleibt es {r.choice(DE_REGIONS)} {r.choice(DE_STATE)}",
        lambda: f"kommt es {r.choice(DE_REGIONS)} zu {r.choice(['gewittern', 'schauern', 'glätte', 'nebel'])}",
        lambda: f"steigen die temperaturen auf {r.choice(DE_NUMS)} bis {r.choice(DE_NUMS)} grad",
        lambda: f"sinken die werte {r.choice(DE_REGIONS)} auf {r.choice(DE_NUMS)} grad",
        lambda: f"wechseln sonne und wolken {r.choice(DE_REGIONS)} einander ab",
        lambda: f"ist es {r.choice(DE_REGIONS)} meist {r.choice(DE_STATE)}",
    ]
    parts = [f"{r.choice(DE_TIMES)} {r.choice(clauses)()}"]
    for _ in range(r.randint(0, 2)):
        parts.append(f"{r.choice(['und', 'aber', 'dazu'])} {r.choice(DE_TIMES)} {r.choice(clauses)()}")
    if r.random() < 0.1:
        parts = [r.choice(DE_CLOSINGS)]
    return " ".join(parts) + " ."


ZH_SUBJECTS = ["我", "你", "他", "她", "我们", "你们", "他们", "老师", "医生", "妈妈", "爸爸", "朋友", "同学", "孩子",
               "哥哥", "姐姐", "弟弟", "妹妹", "邻居", "经理"]
ZH_TIMES = ["今天", "明天", "昨天", "下午", "晚上", "周末", "上午", "每天", "早上", "中午", "星期一", "星期五", "后天",
            "去年", "明年"]
ZH_ADVS = ["", "也", "都", "经常", "一起", "已经", "马上", "常常", "不", "没有"]
ZH_ACTIONS = ["去医院看病", "去超市买东西", "在家做饭", "吃早饭", "喝咖啡", "坐地铁上班", "学习手语", "打篮球",
              "看电影", "给朋友打电话", "去银行取钱", "洗衣服", "写作业", "开会", "去公园散步", "坐火车回家",
              "在图书馆看书", "买了一本书", "去学校上课", "打扫房间", "去机场接人", "看望奶奶", "参加比赛",
              "去饭店吃饭", "学习汉语", "骑自行车", "做运动", "听音乐", "找工作", "休息"]
ZH_ENDS = ["。", "吗？", "了。", "吧。", "呢？"]


def chinese_sentence(r: random.Random) -> str:
    parts = [r.choice(ZH_TIMES), r.choice(ZH_SUBJECTS), r.choice(ZH_ADVS), r.choice(ZH_ACTIONS)]
    if r.random() < 0.5:
        parts += ["，", "然后", r.choice(ZH_ACTIONS)]
    return "".join(parts) + r.choice(ZH_ENDS)


def build_corpus(language: str, n: int, seed: int, synthetic: bool) -> list[str]:
    if synthetic:
        import numpy as np

        from sign2gpt.data.synthetic.grammar import generate_pairs

        return [sentence for _, sentence in generate_pairs(language, n, np.random.default_rng(seed))]
    r = random.Random(seed)
    make = german_sentence if language == "de" else chinese_sentence
    return [make(r) for _ in range(n)]


def _timed(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of fn(): CPU time is what one core spends,
    unaffected by other processes competing for the machine; wall time is reported beside it."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(language: str, sentences: list[str]) -> dict:
    from sign2gpt.text.pipelines import build_pipeline
    from sign2gpt.text.pseudo_glosses import extract_pseudo_glosses

    holder = {}

    def load():
        holder["nlp"] = nlp = build_pipeline(language, "offline")
        nlp("warm up" if language == "de" else "预热")  # first call loads lazy resources (jieba's dictionary)

    load_cpu, _ = _timed(load)
    nlp = holder["nlp"]
    unique = list(dict.fromkeys(sentences))
    cold_cpu, cold_wall = _timed(lambda: holder.update(glosses=extract_pseudo_glosses(nlp, unique, language,
                                                                                      progress=False)))
    warm_cpu, _ = _timed(lambda: extract_pseudo_glosses(nlp, unique, language, progress=False))  # all cached now
    glosses = holder["glosses"]
    return {
        "sentences": len(sentences),
        "unique_sentences": len(unique),
        # sentence length: words for German, characters for Chinese
        ("mean_words" if language == "de" else "mean_chars"): round(
            sum(len(s.split()) if language == "de" else len(s) for s in unique) / len(unique), 2),
        "mean_pseudo_glosses": round(sum(len(glosses[s]) for s in unique) / len(unique), 3),
        "load_cpu_s": round(load_cpu, 3),
        "cpu_s": round(cold_cpu, 3),
        "wall_s": round(cold_wall, 3),
        "sentences_per_s": round(len(unique) / cold_cpu, 1),
        "sentences_per_wall_s": round(len(unique) / cold_wall, 1),
        "cached_sentences_per_s": round(len(unique) / warm_cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="sentences per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="corpus from sign2gpt.data.synthetic")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, honestly

    results = {lang: measure(lang, build_corpus(lang, args.n, args.seed, args.synthetic)) for lang in ("de", "zh")}
    summary = {
        "de_sentences_per_s": results["de"]["sentences_per_s"],
        "zh_sentences_per_s": results["zh"]["sentences_per_s"],
        "de_target_met": results["de"]["sentences_per_s"] >= 1000,
        "zh_target_met": results["zh"]["sentences_per_s"] >= 5000,
        "corpus": "synthetic grammar" if args.synthetic else "benchmark word lists",
        "de": results["de"],
        "zh": results["zh"],
        "cores": 1,
        "cpu": platform.processor() or platform.machine(),
    }
    Path(args.out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
