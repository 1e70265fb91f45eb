#!/usr/bin/env python3
"""Reference ids for `src/pipeline/tokenizer.ts`: what diffusers' Stable Diffusion pipelines feed
their text encoder, from transformers' own slow `CLIPTokenizer` with ftfy installed.

diffusers' SD 1.x / 2.x pipelines load `CLIPTokenizer.from_pretrained(<model>/tokenizer)` (the
slow Python tokenizer: vocab.json + merges.txt; it cleans text with `ftfy.fix_text` when ftfy is
importable) and call `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`,
plus `tokenizer(prompt, padding="longest")` to find what truncation removed. This script does
exactly that on a few hundred prompts, for three tokenizer folders:

  sd1    test/fixtures/tiny-sd/tokenizer as it is (SD 1.5's files: pad <|endoftext|>)
  sd2    the same vocab / merges with SD 2.x's special tokens: special_tokens_map.json says
         pad_token "!" (over tokenizer_config.json's <|endoftext|>), so padding is id 0 and
         transformers makes "!" an added token that is cut out of prompts (diffusers #4153)
  added  a tokenizer_config.json with `added_tokens_decoder` holding a textual-inversion style
         token <cat-toy> (id 49408) and tokens with lstrip / rstrip / single_word, and
         clean_up_tokenization_spaces true (run on the prompts tagged for it)
  json_added  SD 1.5's tokenizer_config.json (no added_tokens_decoder) beside a tokenizer.json
         whose `added_tokens` add <cat-toy> (49408): the one part of tokenizer.json the slow
         tokenizer reads (same prompts)

Outputs (committed as test fixtures; never run by the tests):

  test/fixtures/pipeline/tokens-extra.json   per prompt: the ids (77), the untruncated length,
      diffusers' removed text, ftfy's cleaned text, and whether ftfy's mojibake repair
      (fix_encoding) changed the prompt; for those prompts also the ids with fix_encoding off
      (what the JavaScript port, which does not repair mojibake, must give)
  test/fixtures/pipeline/characters.json     character-level tables: every code point that
      ftfy.fix_text (fix_encoding off) changes when alone, ftfy's unescape_html on every HTML5
      entity name (and its all-caps and other spellings) and on numeric references, the class
      each code point gets from CLIP's regex / whitespace_clean, and str.lower() where it changes

Environment (none of it is installed by the project): a venv outside the repo from the machine's
local wheel store, e.g.

  python3 -m venv /work/venv-tok
  /work/venv-tok/bin/pip install ftfy regex requests
  /work/venv-tok/bin/pip install --no-deps transformers==4.57.6 tokenizers==0.22.2
  /work/venv-tok/bin/python scripts/clip_tokens_reference.py

transformers 4.57 is the last line with the slow CLIPTokenizer (5.x only has the tokenizers-backed
one, without ftfy). It insists on huggingface_hub < 1.0 at import; the store has only 1.x, so the
script reports 0.36.0 to that version check (only tokenizer code runs; nothing touches the Hub).
"""

import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata

_real_version = importlib.metadata.version


def _version(name):
    if name.replace("_", "-").lower() == "huggingface-hub":
        return "0.36.0"
    return _real_version(name)


importlib.metadata.version = _version

import ftfy  # noqa: E402
import ftfy.fixes  # noqa: E402
import html.entities  # noqa: E402
import regex  # noqa: E402
import transformers  # noqa: E402
from transformers import CLIPTokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURE_TOKENIZER = os.path.join(ROOT, "test", "fixtures", "tiny-sd", "tokenizer")
TOKENS_JSON = os.path.join(ROOT, "test", "fixtures", "tiny-sd", "tokens.json")
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "pipeline")

AT = {"__type": "AddedToken", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}

# SD 2.x's tokenizer files differ from SD 1.5's in the pad token: special_tokens_map.json says "!",
# which wins over tokenizer_config.json (no added_tokens_decoder there: transformers' legacy path).
SD2_CONFIG = {
    "add_prefix_space": False,
    "bos_token": {**AT, "content": "<|startoftext|>"},
    "do_lower_case": True,
    "eos_token": {**AT, "content": "<|endoftext|>"},
    "errors": "replace",
    "model_max_length": 77,
    "pad_token": "<|endoftext|>",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": {**AT, "content": "<|endoftext|>"},
}
SD2_SPECIAL_TOKENS_MAP = {
    "bos_token": {k: v for k, v in AT.items() if k != "__type"} | {"content": "<|startoftext|>"},
    "eos_token": {k: v for k, v in AT.items() if k != "__type"} | {"content": "<|endoftext|>"},
    "pad_token": "!",
    "unk_token": {k: v for k, v in AT.items() if k != "__type"} | {"content": "<|endoftext|>"},
}


def added_token(content, special=False, **flags):
    token = {"content": content, "lstrip": False, "normalized": not special, "rstrip": False,
             "single_word": False, "special": special}
    token.update(flags)
    return token


# The config transformers >= 4.34 writes (added_tokens_decoder), with a textual-inversion token.
ADDED_CONFIG = {
    "added_tokens_decoder": {
        "49406": added_token("<|startoftext|>", special=True),
        "49407": added_token("<|endoftext|>", special=True),
        "49408": added_token("<cat-toy>"),
        "49409": added_token("<lst>", lstrip=True),
        "49410": added_token("<rst>", rstrip=True),
        "49411": added_token("<word>", single_word=True),
    },
    "bos_token": "<|startoftext|>",
    "clean_up_tokenization_spaces": True,
    "do_lower_case": True,
    "eos_token": "<|endoftext|>",
    "errors": "replace",
    "model_max_length": 77,
    "pad_token": "<|endoftext|>",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": "<|endoftext|>",
}

# tokenizer.json as the slow loader reads it: only `added_tokens` is taken from it.
JSON_ADDED_TOKENIZER_JSON = {
    "added_tokens": [
        {"id": 49406, **added_token("<|startoftext|>", special=True)},
        {"id": 49407, **added_token("<|endoftext|>", special=True)},
        {"id": 49408, **added_token("<cat-toy>")},
    ],
}

LONG = ("masterpiece, best quality, a breathtaking panoramic view of an ancient city built into "
        "the side of a mountain at sunset, golden hour lighting, volumetric clouds, intricate "
        "architecture, towering spires, flowing waterfalls, lush vegetation, flocks of birds, "
        "cinematic composition, trending on artstation, unreal engine 5, octane render")


def prompts():
    """(name, prompt, tags): tags "added" runs the prompt through the `added` tokenizer too."""
    p = []

    def add(name, text, *tags):
        p.append((name, text, set(tags)))

    # Ordinary prompts.
    for i, text in enumerate([
        "a photo of an astronaut riding a horse on mars",
        "portrait of a young woman, highly detailed, digital painting, artstation, concept art, sharp focus",
        "a cozy cabin in the woods, winter, snow, warm light from the windows, 4k, hdr",
        "cyberpunk city street at night, neon signs, rain, reflections, blade runner style",
        "an oil painting of a bowl of fruit by Paul Cézanne",
        "studio ghibli style landscape with a train crossing a lake",
        "(masterpiece:1.4), (best quality), 1girl, solo, long hair, looking at viewer, smile",
        "[cat|dog] sitting on a [red:blue:0.5] sofa, {detailed fur}, <lora:fluffy:0.7>",
        "low quality, blurry, jpeg artifacts, watermark, text, signature, deformed hands",
        "A Photo Of A Dog Wearing Sunglasses On The Beach",
        "ISOMETRIC PIXEL ART OF A MEDIEVAL CASTLE",
        "macro shot of a dew drop on a leaf, f/2.8, 100mm, bokeh",
        "a 3d render of a cute robot, pastel colors, blender, octane, 8k uhd",
        "watercolor painting of Kyoto in autumn -- maple leaves, temples & pagodas",
        "logo design: minimalist fox head, vector, flat, #ff6600 on #ffffff",
        "photo, 35mm, kodak portra 400, golden hour, candid street photography, 1970s",
        "she said \"hello\" and he said 'goodbye'",
        "a cat; a dog: a bird / a fish \\ a frog",
        "mc escher style impossible staircase",
        "e=mc^2 written on a chalkboard, 2+2=4, 50% off, $100, #1, @night, ~approx~",
    ]):
        add(f"ordinary_{i}", text)

    # HTML entities, as pasted from web pages.
    for i, text in enumerate([
        "salt &amp; pepper",
        "Tom &amp;amp; Jerry",
        "triple &amp;amp;amp; nesting",
        "deep &amp;amp;amp;amp;amp;amp;amp;amp; nesting",
        "5 &lt; 6 &gt; 4",
        "&quot;quoted&quot; and &apos;apos&apos;",
        "it&#39;s and it&#x27;s and it&#X27;s",
        "it&#8217;s a &#8220;test&#8221;",
        "&ldquo;smart&rdquo; &lsquo;quotes&rsquo;",
        "caf&eacute; cr&egrave;me br&ucirc;l&eacute;e",
        "CAF&EACUTE; IN BUNDESSTRA&SZLIG;E",
        "&ntilde; &Ntilde; &NTILDE; &nTILDE;",
        "&LTRI; &ltri; &AMP; &COPY; &NOT; &GT; &QUOT;",
        "price &euro;5 &pound;3 &yen;100 &cent;",
        "&copy; 2024 &reg; &trade;",
        "em&mdash;dash en&ndash;dash ellipsis&hellip;",
        "a&nbsp;b&nbsp;&nbsp;c",
        "x&#160;y &#xa0;z",
        "no semicolon: &amp and &lt and &copy and &eacute",
        "AT&T, R&D, Q&A, rock&roll, &&, &;",
        "&notit; &not; &notin; &xyz; &Amp; &aMp;",
        "&#59; &#x3b; &#0; &#13; &#1; &#11; &#127; &#128; &#133; &#x85; &#150;",
        "&#x81; &#x8d; &#x9d; &#xfffe; &#xFDD0; &#x1FFFF; &#xD800; &#x110000;",
        "&#99999999999999999999999; &#x1F600; &#128512; &#x1f431;",
        "&#12ab; &#x; &#xZZ; &#; &#65&#66;",
        "&am&#112;; &l&#116;; &amp;#65;",
        "&#38;amp; &#38;#38;amp;",
        "&frac12; &frac14; &sup2; &deg; &times; &divide; &plusmn;",
        "&alpha;&beta;&gamma; &Omega; &sigma;&sigmaf; &SIGMA;",
        "&NotEqualTilde; &nvlt; &bne; &fjlig; &ThickSpace;",
        "&Jscr;ohn &HilbertSpace;ancock &checkmark;",
        "&excl; wow &excl;&excl;",
        "https://example.com/?a=1&amp;b=2&amp;c=3",
        "&lt;|endoftext|&gt; and &lt;|startoftext|&gt;",
        "an entity name of 24 letters &abcdefghijklmnopqrstuvwx; and 25 &abcdefghijklmnopqrstuvwxy;",
        "&AElig; &aelig; &AELIG; &OElig; &OELIG; &szlig; &SZLIG;",
        "&ETH; &eth; &THORN; &thorn; &Iacute; &IACUTE;",
        "&fflig; &FFLIG; &filig; &FILIG; &ffilig;",
        "&zwj; &zwnj; &shy; &lrm; &rlm; &ZeroWidthSpace;",
        "&Tab; &NewLine; &nbsp; &ensp; &emsp; &thinsp;",
    ]):
        add(f"entities_{i}", text)

    # HTML markup: a literal "<" turns unescaping off from its line on (ftfy's "auto").
    for i, text in enumerate([
        "<b>bold</b> &amp; more",
        "<i>italic</i> and &lt;escaped&gt;",
        "a < b &amp; c",
        "line one &amp; first\nline two <b> &amp; second",
        "line one <tag> &amp;\nline two &amp; still off",
        "&amp; before\r<b> after a carriage return &amp;",
        "a <3 &amp; love",
        "&lt;b&gt;escaped tags&lt;/b&gt; &amp; entities",
        "<p>paragraph</p>\n<p>&nbsp;</p>",
        "x &amp; y <|endoftext|> z &amp; w",
    ]):
        add(f"markup_{i}", text)

    # Quotes, apostrophes, primes, dashes.
    for i, text in enumerate([
        "“hello” and ‘world’",
        "don’t stop, it’s fine, we’re here, they’ve gone, I’m ok, you’ll see, she’d go",
        "DON’T SHOUT IT’S LOUD",
        "‚low single‛ „low double‟",
        "ʼs modifier apostrophe: donʼt",
        "6′ 2″ tall, 45° 30′ 15″ N, ‴ triple prime",
        "«guillemets» ‹single› 「corner」 『white corner』 〈angle〉",
        "em—dash en–dash minus − hyphen‐ figure‒dash horizontal―bar",
        "ellipsis… and middle·dot and bullet • point",
        "`backtick` ´acute´ ˋgraveˋ ‘mixed\" quotes’",
        "it'ſ a long ſ: 'ſ <|ſtartoftext|> ſtop",
        "'S 'T 'RE 'VE 'M 'LL 'D uppercase contractions",
    ]):
        add(f"quotes_{i}", text)

    # Ligatures and digraphs (ftfy's list), and ones ftfy keeps.
    for i, text in enumerate([
        "ﬁne ﬂower ﬀort ﬃce ﬄe ﬅ ﬆar",
        "Ĳssel ĳs ŉ",
        "Ǳ ǲ ǳ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ",
        "æther œuvre Æsir Œdipus",
        "ﬓ ﬔ ﬕ armenian ligatures, ꜳ ꜵ ꝏ",
        "oﬃcial ﬁnal ﬂoor OFFICIAL",
    ]):
        add(f"ligatures_{i}", text)

    # Width forms (fixed by ftfy) and compatibility characters (not fixed: ftfy is not NFKC).
    for i, text in enumerate([
        "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ　１２３",
        "ｈｅｌｌｏ！＂＃＄％＆＇（）＊＋，－．／：；＜＝＞？＠［＼］＾＿｀｛｜｝～",
        "ｶﾀｶﾅ ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ｰ ｡｢｣､･",
        "ﾡﾢﾣ halfwidth hangul ￂￃ",
        "￠ ￡ ￢ ￣ ￤ ￥ ￦ ￨ ￩ ￪ ￫ ￬ ￭ ￮",
        "ideographic　space　and full stop。",
        "ＡＢＣ＆ａｍｐ；ＤＥＦ",
        "superscripts x² y³ z⁴ ⁿ, subscripts H₂O CO₂",
        "fractions ½ ¼ ¾ ⅓ ⅔ ⅛ ⅞ ↉",
        "roman numerals Ⅰ Ⅱ Ⅻ ⅰ ⅷ ⅿ",
        "circled ① ② ⑳ Ⓐ ⓐ ㊙ ㊗",
        "℃ ℉ № ™ ℠ ℡ µ K Å Ω ℮",
        "math bold 𝐀𝐁𝐂 𝒜 𝔄 𝕬 𝟘𝟙",
        "CJK compatibility 豈 更 車 賈 and ㍻ ㌔ ㎏ ㎡",
        "small forms ﹏ ﹐ ﹑ ﹒ and vertical ︰ ︱ ︵",
        "ſ long s, ẞ capital sharp s, ß, ĸ kra, ŀ l-dot",
    ]):
        add(f"width_compat_{i}", text)

    # Whitespace, line breaks, control characters, terminal escapes, invisible characters.
    for i, text in enumerate([
        "windows\r\nline\r\nbreaks",
        "old mac\rline\rbreaks",
        "tabs\tand\t\ttabs",
        "vertical\vtab and form\ffeed",
        "next line\x85char",
        "line\u2028separator and paragraph\u2029separator",
        "nbsp\u00a0narrow\u202fthin\u2009hair\u200afigure\u2007ideographic\u3000",
        "zero\u200bwidth space, word\u2060joiner, zw\u200cnj, zw\u200dj",
        "byte order mark \ufeffhere",
        "soft\u00adhyphen",
        "nul\x00bell\x07backspace\x08escape\x1b",
        "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[0m \x1b[38;5;208morange\x1b[m",
        "\x1b[\u0661\u0662mindic digits\x1b[0m and \x1b]0;title\x07",
        "info sep \x1c\x1d\x1e\x1f chars and del \x7f",
        "c1 \x80 \x81 \x8d \x8f \x90 \x91quoted\x92 \x93double\x94 \x96 \x97 \x99 \x9d \x9f",
        "deprecated \u206a\u206b\u206c\u206d\u206e\u206f format chars",
        "annotation \ufff9a\ufffab\ufffb object \ufffc replacement \ufffd",
        "bidi \u200eLRM \u200fRLM \u202aLRE \u202eRLO\u202c",
        "variation selectors ❤\ufe0f ☺\ufe0e and tag 🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
        "mongolian vowel separator a\u180eb, hangul filler \u3164, braille blank \u2800",
        "   leading and trailing   ",
        "\n\nnewlines\n\n\nonly\n",
        "mixed \t\n\r\x0b\x0c\x1c\x85\u2028 whitespace",
        "\u00a0\u3000 nbsp ideographic edges \u00a0\u3000",
        "lone surrogates \ud83d here and \udc31 there",
        "reversed pair \udc31\ud83d end",
        "python surrogate pair \ud83d\udc31 joined",
    ]):
        add(f"controls_{i}", text)

    # Special tokens and the SD 2.x pad token "!".
    for i, text in enumerate([
        "before <|startoftext|> middle <|endoftext|> after",
        "<|endoftext|>",
        "<|startoftext|><|endoftext|><|startoftext|>",
        "glued<|endoftext|>text<|startoftext|>more",
        "upper <|ENDOFTEXT|> and mixed <|EndOfText|>",
        "spaced < |endoftext| > and <| endoftext |> and <|endoftext |>",
        "partial <|endoftext and endoftext|> and <|endof|text|>",
        "a cat!",
        "wow!!! great!! ok!",
        "hello , world ! ?! !? !.",
        "fullwidth bang ！ and &excl; entity",
        "!!! (masterpiece!!!) [!!]",
        "!",
    ]):
        add(f"special_{i}", text)

    # Scripts and emoji.
    for i, text in enumerate([
        "مرحبا بالعالم، قطة جميلة",
        "שָׁלוֹם עוֹלָם",
        "แมวน่ารักนั่งบนหน้าต่าง",
        "தமிழ் பூனை படம்",
        "Кошка сидит на окне, ЁЛКА, Ёжик",
        "ქართული კატა, Հայերեն կատու",
        "Ἐν ἀρχῇ ἦν ὁ λόγος, ᾳ ᾼ",
        "combining ypogegrammeni α\u0345 ω\u0345 x\u0345y \u0345",
        "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ Σ ΑΣ ΣΑ ΑΣ.",
        "Türkçe İstanbul ıı İİ DİYARBAKIR",
        "Tiếng Việt: phở bò, Hà Nội",
        "Tie\u0302\u0301ng Vie\u0323\u0302t decomposed",
        "\u1100\u1161\u11a8 \u1112\u1161\u11ab conjoining jamo",
        "日本語のプロンプト、かわいい猫、桜の木の下で",
        "中文提示词：一只可爱的猫坐在窗台上，阳光明媚",
        "한국어 프롬프트: 귀여운 고양이",
        "emoji 😀😃😄 🐱🐶 🍕🍔 🚀✨",
        "skin tones 👍🏻👍🏼👍🏽👍🏾👍🏿 and zwj 👨\u200d👩\u200d👧\u200d👦 👩\u200d💻",
        "flags 🇯🇵 🇺🇸 🇫🇷 keycaps 1\ufe0f\u20e3 #\ufe0f\u20e3",
        "astral 𠀀𠀁 CJK ext B, 𐌀𐌁 old italic, 𝄞 music",
        "emoji with text: I ❤️ NY, ☕ coffee, ⚡ fast",
        "ǅungla Ǆemal ǈubljana title-case digraphs",
        "Åström ÅNGSTRÖM Ørsted øl Ærø",
        "hindi हिन्दी, bengali বাংলা, gujarati ગુજરાતી",
    ]):
        add(f"scripts_{i}", text)

    # Numbers and symbols.
    for i, text in enumerate([
        "1234567890 0.5 1,000,000 -42 +7 1e10 0x1F",
        "٠١٢٣٤٥٦٧٨٩ arabic-indic, ০১২ bengali, ๑๒๓ thai, 一二三",
        "ⅠⅡⅢ ①②③ ¹²³ ₁₂₃ ½¾ 𝟏𝟐𝟑",
        "©®™ §¶† ‡ ※ ¤ ¢£¥€₹₽₿",
        "→ ← ↑ ↓ ⇒ ⇔ ∀ ∃ ∈ ∑ ∫ √ ∞ ≈ ≠ ≤ ≥",
        "█▓▒░ ■□▪▫ ●○◆◇ ★☆ ♠♣♥♦ ♪♫",
    ]):
        add(f"symbols_{i}", text)

    # Text that looks like mojibake to ftfy (fix_encoding repairs it; the port does not).
    for i, text in enumerate([
        "cafÃ© crÃ¨me",
        "Ã la mode",
        "â€œquotedâ€\x9d and donâ€™t",
        "Ã¼ber GrÃ¶ÃŸe",
        "ÐŸÑ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€",
        "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.",
        "Â£5 and Â©",
        "naÃ¯ve faÃ§ade",
        "âœ” done",
        "EspaÃ±ol y PortuguÃªs",
    ]):
        add(f"mojibake_{i}", text)

    # Length: the 75-id boundary, truncation inside multi-byte characters, long web text.
    for n in (73, 74, 75, 76, 77, 80):
        add(f"length_a_{n}", " ".join(["a"] * n))
    add("length_long_1", LONG)
    add("length_long_2", LONG + ", " + LONG)
    add("length_emoji_boundary", " ".join(["a"] * 74) + " 😀🐱🚀 end")
    add("length_cjk_boundary", " ".join(["a"] * 73) + " 日本語のプロンプト")
    add("length_rare_boundary", " ".join(["a"] * 74) + " 𝕬𝕭𝕮 ꙮ end")
    add("length_special_boundary", " ".join(["a"] * 74) + " <|endoftext|> <|startoftext|> tail")
    add("length_bang_boundary", " ".join(["a"] * 73) + " wow!!! yes!!")
    add("length_entities", ("salt &amp; pepper, &quot;quoted&quot; " * 12).strip())
    add("length_contractions", ("don't stop it's fine " * 20).strip())
    add("length_punctuation", "a" + ", ..." * 60)
    add("length_one_word", "super" * 200)
    add("length_digits", "1234567890" * 12)
    add("length_5000", ("a red fox in the snow, " * 220)[:5000])

    # Prompts as pasted from web pages and documents: each subject with each kind of decoration.
    subjects = ["a portrait of an old fisherman", "the Eiffel Tower at dusk", "a bowl of ramen",
                "an astronaut's helmet", "cherry blossoms in Kyoto", "a steampunk owl"]
    decorations = [
        "&ldquo;{}&rdquo; &mdash; photo&nbsp;by&nbsp;someone",
        "“{}” — photo by someone…",
        "{}\r\n\r\nTags: art, photo, 4k",
        "\u2022 {}\n\u2022 highly detailed\n\u2022 8k",
        "{} (ＨＤ) ｜ ｗａｌｌｐａｐｅｒ",
        "{}\u200b\u200b, trending\u00a0on\u00a0artstation",
        "<p>{}</p> &amp; more",
        "{} &#8211; oﬃcial ﬁne art print &copy;2024",
        "\t{}\t\x1b[0m",
        "{}, ISO\u00a0100, f/1.8, 1/250\u202fs, 50\u2009mm",
    ]
    for i, subject in enumerate(subjects):
        for j, decoration in enumerate(decorations):
            add(f"web_{i}_{j}", decoration.replace("{}", subject))

    # Hostile-looking but legal prompts.
    add("empty", "")
    add("space", " ")
    add("whitespace_only", " \t\n\r\u3000\u00a0 ")
    add("controls_only", "\x00\x01\x1b[0m\ufeff")
    add("entity_only", "&nbsp;")
    add("punct_only", ",.;:!?")
    add("deep_nesting", "&" + "amp;" * 40 + " end")

    # Added tokens (the `added` tokenizer: textual inversion, lstrip / rstrip / single_word).
    for i, text in enumerate([
        "a photo of <cat-toy> on a table",
        "glued<cat-toy>text and <cat-toy><cat-toy>",
        "left   <lst>   right",
        "left\x85<lst> and a\u00a0<lst>",
        "left   <rst>   right",
        "<rst>\u3000x and <rst>\x85y",
        "a <word> b",
        "a<word> b",
        "a <word>b",
        "a<word>b",
        "<word>x",
        "x<word>",
        "<cat-toy>, a painting , with commas . and a question ?",
        "it 's the <cat-toy> 've been n't",
        " ".join(["a"] * 74) + " <cat-toy> <cat-toy> . ,",
        " ".join(["a"] * 75) + " tail , with . punctuation !",
    ]):
        add(f"added_{i}", text, "added")
    return p


def write_config_dir(root, name, config, special_tokens_map=None, tokenizer_json=None):
    path = os.path.join(root, name)
    os.makedirs(path)
    for file in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(FIXTURE_TOKENIZER, file), path)
    with open(os.path.join(path, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    if special_tokens_map is not None:
        with open(os.path.join(path, "special_tokens_map.json"), "w", encoding="utf-8") as f:
            json.dump(special_tokens_map, f, indent=2)
    if tokenizer_json is not None:
        with open(os.path.join(path, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json, f, indent=2)
    return path


def run(tokenizer, text):
    """What diffusers' encode_prompt computes for one prompt."""
    ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids
    untruncated = tokenizer(text, padding="longest").input_ids
    out = {"ids": ids, "length": len(untruncated)}
    if len(untruncated) >= len(ids) and ids != untruncated:
        out["removed_text"] = tokenizer.batch_decode([untruncated[tokenizer.model_max_length - 1: -1]])[0]
    return out


def without_fix_encoding(tokenizer):
    """The same tokenizer with ftfy's mojibake repair off (every other ftfy fix on)."""
    tokenizer.fix_text = lambda text: ftfy.fix_text(text, fix_encoding=False)
    return tokenizer


def tokens_reference(tmp):
    sd1 = CLIPTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    sd2_dir = write_config_dir(tmp, "sd2", SD2_CONFIG, SD2_SPECIAL_TOKENS_MAP)
    sd2 = CLIPTokenizer.from_pretrained(sd2_dir)
    added_dir = write_config_dir(tmp, "added", ADDED_CONFIG)
    added = CLIPTokenizer.from_pretrained(added_dir)
    with open(os.path.join(FIXTURE_TOKENIZER, "tokenizer_config.json"), encoding="utf-8") as f:
        sd1_config = json.load(f)
    json_added_dir = write_config_dir(tmp, "json_added", sd1_config, tokenizer_json=JSON_ADDED_TOKENIZER_JSON)
    json_added = CLIPTokenizer.from_pretrained(json_added_dir)
    assert sd1.fix_text is ftfy.fix_text, "ftfy must be importable"
    assert (sd1.pad_token, sd1.pad_token_id) == ("<|endoftext|>", 49407)
    assert (sd2.pad_token, sd2.pad_token_id) == ("!", 0), (sd2.pad_token, sd2.pad_token_id)
    assert added.convert_tokens_to_ids("<cat-toy>") == 49408
    assert json_added.convert_tokens_to_ids("<cat-toy>") == 49408
    plain = {
        "sd1": without_fix_encoding(CLIPTokenizer.from_pretrained(FIXTURE_TOKENIZER)),
        "sd2": without_fix_encoding(CLIPTokenizer.from_pretrained(sd2_dir)),
        "added": without_fix_encoding(CLIPTokenizer.from_pretrained(added_dir)),
        "json_added": without_fix_encoding(CLIPTokenizer.from_pretrained(json_added_dir)),
    }
    tokenizers = {"sd1": sd1, "sd2": sd2, "added": added, "json_added": json_added}

    with open(TOKENS_JSON, encoding="utf-8") as f:
        fixture_prompts = [(f"tokens_json/{c['name']}", c["prompt"], set()) for c in json.load(f)["cases"]]
    cases = []
    for name, text, tags in fixture_prompts + prompts():
        names = ["sd1", "sd2"] + (["added", "json_added"] if "added" in tags else [])
        case = {"name": name, "prompt": text}
        fixed = ftfy.fix_text(text)
        fixed_plain = ftfy.fix_text(text, fix_encoding=False)
        case["fixed_text"] = fixed_plain
        case["fix_encoding_changes"] = fixed != fixed_plain
        for key in names:
            case[key] = run(tokenizers[key], text)
        if case["fix_encoding_changes"]:
            case["without_fix_encoding"] = {key: run(plain[key], text) for key in names}
        cases.append(case)
    return {
        "source": {
            "script": "scripts/clip_tokens_reference.py",
            "transformers": transformers.__version__,
            "ftfy": ftfy.__version__,
            "regex": regex.__version__,
            "python": sys.version.split()[0],
            "unicodedata": unicodedata.unidata_version,
            "tokenizer": "transformers' slow CLIPTokenizer.from_pretrained, ftfy installed",
        },
        "layout": {
            "ids": "tokenizer(prompt, padding='max_length', max_length=77, truncation=True).input_ids",
            "length": "len(tokenizer(prompt, padding='longest').input_ids): untruncated, bos/eos included",
            "removed_text": "diffusers' warning text: batch_decode(untruncated[:, 76:-1]), when truncated",
            "fixed_text": "ftfy.fix_text(prompt, fix_encoding=False)",
            "fix_encoding_changes": "ftfy.fix_text(prompt) != ftfy.fix_text(prompt, fix_encoding=False)",
            "without_fix_encoding": "the same runs with the tokenizer's fix_text = fix_text(.., fix_encoding=False)",
        },
        "configs": {
            "sd1": "test/fixtures/tiny-sd/tokenizer (tokenizer_config.json, special_tokens_map.json, tokenizer.json)",
            "sd2": {"tokenizer_config": SD2_CONFIG, "special_tokens_map": SD2_SPECIAL_TOKENS_MAP},
            "added": {"tokenizer_config": ADDED_CONFIG},
            "json_added": {"tokenizer_config": "sd1's", "tokenizer_json": JSON_ADDED_TOKENIZER_JSON},
        },
        "cases": cases,
    }


def run_lengths(values):
    """[[value, count], ...] of consecutive equal values."""
    runs = []
    for value in values:
        if runs and runs[-1][0] == value:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    return runs


def characters_reference():
    # Every code point ftfy changes on its own (mojibake repair off), and where it is on.
    fix_text = {}
    fix_encoding_differs = []
    # The class of each code point in CLIP's regex (IGNORECASE, as the tokenizer compiles it) and
    # in whitespace_clean's \s: L letter run, N digit, O other run, S whitespace, X none of them,
    # U unassigned in the regex module's Unicode data.
    pattern_class = []
    letter = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    digit = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    other = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    space = regex.compile(r"\s")
    unassigned = regex.compile(r"\p{Cn}")
    lower = {}
    python_unassigned = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            pattern_class.append("U")
            continue
        c = chr(cp)
        fixed = ftfy.fix_text(c, fix_encoding=False)
        if fixed != c:
            fix_text[f"{cp:x}"] = fixed
        if ftfy.fix_text(c) != fixed:
            fix_encoding_differs.append(f"{cp:x}")
        if unassigned.fullmatch(c):
            kind = "U"
        elif space.fullmatch(c):
            kind = "S"
        elif letter.fullmatch(c):
            kind = "L"
        elif digit.fullmatch(c):
            kind = "N"
        elif other.fullmatch(c):
            kind = "O"
        else:
            kind = "X"
        pattern_class.append(kind)
        if unicodedata.category(c) == "Cn":
            python_unassigned.append(cp)
        elif c.lower() != c:
            lower[f"{cp:x}"] = c.lower()

    # ftfy's unescape_html on each HTML5 name (with its semicolon), the same upper-cased,
    # capitalised and lower-cased, and numeric references.
    inputs = set()
    for name in html.entities.html5:
        base = name.rstrip(";")
        for variant in (base, base.upper(), base.lower(), base.capitalize()):
            inputs.add(f"&{variant};")
            inputs.add(f"&{variant}")
    for code in list(range(0, 0x120)) + [0x3b, 0x7f, 0x2018, 0x2019, 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFDCF,
                                         0xFDD0, 0xFDEF, 0xFDF0, 0xFFFD, 0xFFFE, 0xFFFF, 0x1FFFE, 0x1F600,
                                         0x10FFFD, 0x10FFFE, 0x10FFFF, 0x110000, 10**23]:
        inputs.update({f"&#{code};", f"&#x{code:x};", f"&#X{code:X};", f"&#{code}", f"&#x{code:x}"})
    entities = []
    for text in sorted(inputs):
        out = ftfy.fixes.unescape_html(text)
        entities.append([text] if out == text else [text, out])

    return {
        "source": {
            "script": "scripts/clip_tokens_reference.py",
            "ftfy": ftfy.__version__,
            "regex": regex.__version__,
            "python": sys.version.split()[0],
            "unicodedata": unicodedata.unidata_version,
        },
        "layout": {
            "fix_text": "hex code point -> ftfy.fix_text(chr(cp), fix_encoding=False), where that differs from chr(cp)",
            "fix_encoding_differs": "code points where ftfy.fix_text(chr(cp)) differs from the above (mojibake repair)",
            "pattern_class": "run-length [[class, count], ...] over code points 0..0x10FFFF: L [\\p{L}], N [\\p{N}], "
                             "O [^\\s\\p{L}\\p{N}] (all IGNORECASE, as CLIP's regex), S \\s (whitespace_clean), "
                             "X none, U unassigned in the regex module or a surrogate",
            "lower": "hex code point -> str.lower(), where it changes, for code points assigned in unicodedata",
            "python_unassigned": "run-length [[first, count], ...] of code points unassigned in Python's unicodedata",
            "entities": "[input] (unchanged) or [input, output] of ftfy.fixes.unescape_html",
        },
        "fix_text": fix_text,
        "fix_encoding_differs": fix_encoding_differs,
        "pattern_class": run_lengths(pattern_class),
        "lower": lower,
        "python_unassigned": ranges(python_unassigned),
        "entities": entities,
    }


def ranges(code_points):
    out = []
    for cp in code_points:
        if out and out[-1][0] + out[-1][1] == cp:
            out[-1][1] += 1
        else:
            out.append([cp, 1])
    return out


def dump(value, path):
    # UTF-8 text, except lone surrogates (in some prompts), which only a \u escape can carry.
    text = json.dumps(value, ensure_ascii=False, indent=1)
    text = re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group(0)):04x}", text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokens = tokens_reference(tmp)
    dump(tokens, os.path.join(OUT_DIR, "tokens-extra.json"))
    print(f"tokens-extra.json: {len(tokens['cases'])} prompts")
    chars = characters_reference()
    dump(chars, os.path.join(OUT_DIR, "characters.json"))
    print(f"characters.json: {len(chars['fix_text'])} fix_text changes, {len(chars['entities'])} entities")


if __name__ == "__main__":
    main()
