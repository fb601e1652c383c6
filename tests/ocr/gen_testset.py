#!/usr/bin/env python3
"""gen_testset.py - renders the OCR test set: images of known text with real fonts.

Usage: tests/ocr/gen_testset.py [OUT_DIR]     (default: tests/ocr/set)

Writes OUT_DIR/<name>.png|.jpg, the ground truth OUT_DIR/<name>.gt.txt next to each
image, and OUT_DIR/manifest.tsv (file, category, tesseract languages, tags) that
`qvl ocr --eval OUT_DIR` scores. Needs ImageMagick's convert and the Debian fonts
fonts-noto-cjk and fonts-dejavu-core (scripts/install-deps.sh installs them).

Categories: doc (paragraphs), receipt, sign, screenshot, table, in English (en),
simplified Chinese (zh), traditional Chinese (zh_tra) and mixed. Each image gets
a degradation from its own seeded generator: clean, slight rotation, blur,
Gaussian noise, strong JPEG compression, or coloured text on a coloured ground.
Everything is derived from fixed seeds, so a rerun with the same ImageMagick gives
the same files. bench_doc_1024x768.png is the latency benchmark page.
"""
import os
import random
import subprocess
import sys

EN_SENT = [
    "The quick brown fox jumps over the lazy dog.",
    "Please keep your ticket until the end of the journey.",
    "All visitors must sign in at the front desk.",
    "The meeting has been moved to Thursday at 3 pm.",
    "Store in a cool, dry place away from sunlight.",
    "Press the green button to start the machine.",
    "Our office will be closed on public holidays.",
    "Report any damage to the building manager.",
    "Water the plants twice a week in summer.",
    "The library opens at nine and closes at six.",
    "Check the tyre pressure before a long trip.",
    "Payment is due within thirty days of the invoice date.",
    "Do not leave bags unattended in the station.",
    "The museum offers free entry on the first Sunday.",
    "Turn off the lights when you leave the room.",
    "Bring a photo ID and your confirmation number.",
]
ZH_SENT = [
    "今天天气很好，我们去公园散步。",
    "请保管好您的车票直到旅程结束。",
    "所有访客请在前台登记。",
    "会议改到星期四下午三点。",
    "请存放在阴凉干燥处，避免阳光直射。",
    "按绿色按钮启动机器。",
    "本办公室节假日不对外开放。",
    "如发现设施损坏请联系物业。",
    "图书馆早上九点开门，下午六点关门。",
    "长途出行前请检查轮胎气压。",
    "请在发票日期后三十天内付款。",
    "请勿在车站内遗留行李。",
    "博物馆每月第一个星期日免费开放。",
    "离开房间时请关灯。",
    "请携带身份证件和预约号码。",
    "学习中文需要每天坚持练习。",
]
ZH_TRA_SENT = [
    "今天天氣很好，我們去公園散步。",
    "請保管好您的車票直到旅程結束。",
    "所有訪客請在前台登記。",
    "會議改到星期四下午三點。",
    "圖書館早上九點開門，下午六點關門。",
    "離開房間時請關燈。",
    "請攜帶身分證件和預約號碼。",
    "學習中文需要每天堅持練習。",
]
MIXED_SENT = [
    "请打开 Wi-Fi 设置页面。",
    "订单号 A2024-0815 已发货。",
    "欢迎使用 Linux 系统。",
    "下载 PDF 文件到本地。",
    "会议室 B3 可容纳 12 人。",
    "请访问 www.example.com 了解详情。",
    "使用 USB 接口连接电脑。",
    "密码长度至少 8 位。",
]
EN_ITEMS = ["Coffee latte", "Green tea", "Bagel", "Orange juice", "Croissant", "Muffin",
            "Sandwich", "Salad bowl", "Mineral water", "Cheesecake"]
ZH_ITEMS = ["拿铁咖啡", "绿茶", "牛肉面", "橙汁", "蛋挞", "小笼包", "炒饭", "水果沙拉",
            "矿泉水", "奶茶"]
SIGNS = {
    "en": ["EXIT", "NO SMOKING", "KEEP OUT", "WET FLOOR", "PARKING", "OPEN 24 HOURS",
           "STAFF ONLY", "PUSH", "EMERGENCY EXIT"],
    "zh": ["出口", "禁止吸烟", "小心地滑", "请勿入内", "停车场", "安全出口", "员工通道",
           "营业中", "注意安全"],
    "mixed": ["出口 EXIT", "禁止吸烟 NO SMOKING", "小心地滑 WET FLOOR", "停车场 P",
              "洗手间 TOILET", "安全出口 EMERGENCY EXIT"],
}
UI = {
    "en": ["Settings", "Network", "Bluetooth", "Display", "Sound", "Notifications",
           "Battery", "Storage", "Privacy", "About phone", "Language", "Updates"],
    "zh": ["设置", "网络", "蓝牙", "显示", "声音", "通知", "电池", "存储", "隐私",
           "关于手机", "语言", "系统更新"],
}
UI_STATE = {"en": ["On", "Off", "Connected", "Auto", "85%"], "zh": ["开启", "关闭", "已连接", "自动", "85%"]}
TABLE_HEAD = {"en": ["Name", "City", "Age", "Score"], "zh": ["姓名", "城市", "年龄", "分数"]}
TABLE_NAMES = {"en": ["Alice", "Brian", "Carol", "David", "Emma", "Frank"],
               "zh": ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]}
TABLE_CITY = {"en": ["London", "Paris", "Berlin", "Madrid", "Rome", "Oslo"],
              "zh": ["北京", "上海", "广州", "深圳", "杭州", "成都"]}

FONTS = {
    "en": ["DejaVu-Sans", "DejaVu-Serif", "DejaVu-Sans-Bold", "Noto-Sans-CJK-SC"],
    "zh": ["Noto-Sans-CJK-SC", "Noto-Serif-CJK-SC", "Noto-Sans-CJK-SC-Bold"],
    "zh_tra": ["Noto-Sans-CJK-TC", "Noto-Serif-CJK-TC"],
    "mixed": ["Noto-Sans-CJK-SC", "Noto-Serif-CJK-SC"],
}
MONO = {"en": "DejaVu-Sans-Mono", "zh": "Noto-Sans-Mono-CJK-SC", "mixed": "Noto-Sans-Mono-CJK-SC"}
TESS_LANG = {"en": "eng", "zh": "chi_sim", "zh_tra": "chi_tra", "mixed": "chi_sim+eng"}
DEGRADE = ["clean", "rot", "blur", "noise", "jpeg", "color"]
COLORS = [("#1a1a1a", "#ffffff"), ("#0b3d91", "#fdf6e3"), ("#202020", "#e8e8e8"),
          ("#7a1010", "#fff8dc"), ("#ffffff", "#2e5e2e"), ("#ffff66", "#222244")]


def label(text, font, size, fg, bg, extra=()):
    """ImageMagick arguments for one block of text (a leading '@' or '%' is escaped)."""
    safe = text.replace("\\", "\\\\").replace("%", "%%")
    if safe.startswith("@"):
        safe = "\\" + safe
    return ["(", "+size", "-background", bg, "-fill", fg, "-font", font, "-pointsize", str(size),
            *extra, "label:" + safe, ")"]


def degrade_args(kind, rng, bg, seed):
    if kind == "rot":
        return ["-background", bg, "-rotate", "%.1f" % rng.choice([-2.5, -1.5, 1.2, 2.0, 3.0])]
    if kind == "blur":
        return ["-blur", "0x%.1f" % rng.choice([0.8, 1.0, 1.3])]
    if kind == "noise":
        return ["-seed", str(seed), "-attenuate", "%.1f" % rng.choice([0.3, 0.5]), "+noise", "Gaussian"]
    return []


def render(out_dir, name, blocks, bg, kind, rng, seed, pad=24):
    ext = "jpg" if kind == "jpeg" else "png"
    path = os.path.join(out_dir, "%s.%s" % (name, ext))
    cmd = ["convert", "-background", bg, *blocks, "-append", "-bordercolor", bg,
           "-border", "%dx%d" % (pad, pad), *degrade_args(kind, rng, bg, seed),
           "-colorspace", "sRGB", "-type", "TrueColor"]
    cmd += ["-quality", str(rng.choice([25, 35]))] if kind == "jpeg" else ["-define", "png:exclude-chunks=date,time"]
    subprocess.run(cmd + [path], check=True)
    return os.path.basename(path)


def colors_for(kind, rng):
    if kind == "color":
        return rng.choice(COLORS[1:])
    return COLORS[0]


def make_doc(rng, lang, kind):
    pool = {"en": EN_SENT, "zh": ZH_SENT, "zh_tra": ZH_TRA_SENT, "mixed": MIXED_SENT}[lang]
    lines = rng.sample(pool, rng.randint(3, 5))
    return lines, rng.choice(FONTS[lang]), rng.choice([20, 24, 28, 32]), None


def make_receipt(rng, lang, kind):
    items = rng.sample(EN_ITEMS if lang == "en" else ZH_ITEMS, rng.randint(3, 5))
    total = 0.0
    lines = ["GREEN LEAF CAFE" if lang == "en" else "绿叶咖啡馆",
             "2024-%02d-%02d %02d:%02d" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 21), rng.randint(0, 59))]
    for it in items:
        qty, price = rng.randint(1, 3), rng.randint(300, 4500) / 100
        total += qty * price
        lines.append("%s x%d %.2f" % (it, qty, qty * price))
    lines.append(("TOTAL %.2f" if lang == "en" else "合计 %.2f") % total)
    lines.append("Thank you!" if lang == "en" else "谢谢惠顾")
    return lines, MONO[lang], rng.choice([20, 22, 26]), None


def make_sign(rng, lang, kind):
    return [rng.choice(SIGNS[lang])], rng.choice(FONTS["zh" if lang != "en" else "en"][:3]), rng.choice([48, 64, 80]), None


def make_screenshot(rng, lang, kind):
    names = rng.sample(UI[lang][1:], rng.randint(4, 6))
    rows = ["%s    %s" % (n, rng.choice(UI_STATE[lang])) for n in names]
    return [UI[lang][0]] + rows, "DejaVu-Sans" if lang == "en" else "Noto-Sans-CJK-SC", rng.choice([18, 20, 24]), "ui"


def make_table(rng, lang, kind):
    rows = [TABLE_HEAD[lang]]
    for i in rng.sample(range(6), rng.randint(3, 5)):
        rows.append([TABLE_NAMES[lang][i], TABLE_CITY[lang][i], str(rng.randint(18, 70)), str(rng.randint(50, 100))])
    width = 10 if lang == "en" else 6
    lines = ["".join(c.ljust(width) if lang == "en" else c + "\u3000" * (width - len(c)) for c in r).rstrip() for r in rows]
    return lines, MONO[lang], rng.choice([20, 24]), "table"


MAKERS = {"doc": make_doc, "receipt": make_receipt, "sign": make_sign, "screenshot": make_screenshot,
          "table": make_table}
PLAN = [("doc", "en", 6), ("doc", "zh", 6), ("doc", "zh_tra", 3), ("doc", "mixed", 4),
        ("receipt", "en", 5), ("receipt", "zh", 5), ("sign", "en", 5), ("sign", "zh", 5),
        ("sign", "mixed", 4), ("screenshot", "en", 5), ("screenshot", "zh", 5),
        ("table", "en", 4), ("table", "zh", 4)]


def build_blocks(lines, font, size, style, fg, bg, rng):
    if style == "ui":
        # a title bar, then list rows separated by thin rules
        blocks = label(" " + lines[0] + " ", font, size + 4, "#ffffff", "#2b579a", ["-gravity", "west"])
        for row in lines[1:]:
            blocks += ["(", "-size", "10x10", "xc:" + bg, ")"]
            blocks += label(row, font, size, fg, bg)
            blocks += ["(", "-size", "400x1", "xc:#c8c8c8", ")"]
        return blocks
    if style == "table":
        blocks = []
        for row in lines:
            blocks += label(row, font, size, fg, bg)
            blocks += ["(", "-size", "10x6", "xc:" + bg, ")", "(", "-size", "%dx2" % (size * 24), "xc:#606060", ")",
                       "(", "-size", "10x6", "xc:" + bg, ")"]
        return blocks
    return label("\n".join(lines), font, size, fg, bg, ["-interline-spacing", str(size // 3)])


class TestSet:
    """The files of a test set being written: each image's ground truth beside it, and
    manifest.tsv (file, category, tesseract languages, tags) for `qvl ocr --eval`."""

    def __init__(self, default_dir, writer):
        self.dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), default_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.manifest = ["# file\tcategory\tlang\ttags  (written by tests/ocr/%s)" % writer]

    def path(self, name):
        return os.path.join(self.dir, name)

    def add(self, file, lines, category, lang, tags):
        with open(self.path(os.path.splitext(file)[0] + ".gt.txt"), "w", encoding="utf-8") as g:
            g.write("\n".join(lines) + "\n")
        self.manifest.append("%s\t%s\t%s\t%s" % (file, category, lang, tags))

    def finish(self):
        with open(self.path("manifest.tsv"), "w", encoding="utf-8") as m:
            m.write("\n".join(self.manifest) + "\n")
        print("wrote %d images to %s" % (len(self.manifest) - 1, self.dir))


def dense_lines(rng):
    """The text of a latency page: 16 lines of two sentences each."""
    return [" ".join(rng.sample(EN_SENT, 2)) for _ in range(16)]


def main():
    out = TestSet("set", "gen_testset.py")
    seed = 1000
    for cat, lang, count in PLAN:
        for i in range(count):
            seed += 1
            rng = random.Random(seed)
            kind = DEGRADE[(i + seed) % len(DEGRADE)] if i else "clean"
            fg, bg = colors_for(kind, rng)
            if cat == "sign" and kind != "color":
                fg, bg = rng.choice([("#ffffff", "#1e7b34"), ("#ffffff", "#b22222"), ("#ffffff", "#1f4e9c"),
                                     ("#111111", "#f2c200")])
            lines, font, size, style = MAKERS[cat](rng, lang, kind)
            name = "%s_%s_%02d_%s" % (cat, lang, i + 1, kind)
            f = render(out.dir, name, build_blocks(lines, font, size, style, fg, bg, rng), bg, kind, rng, seed)
            out.add(f, lines, cat, TESS_LANG[lang], "%s,%s" % (lang, kind))
    # The latency page: 1024x768, a dense English document.
    lines = dense_lines(random.Random(7))
    subprocess.run(["convert", "-size", "1024x768", "xc:white", "-font", "DejaVu-Serif", "-pointsize", "17",
                    "-fill", "#111111", "-interline-spacing", "12", "-annotate", "+40+60", "\n".join(lines),
                    "-define", "png:exclude-chunks=date,time", out.path("bench_doc_1024x768.png")],
                   check=True)
    out.add("bench_doc_1024x768.png", lines, "doc", "eng", "en,clean,bench")
    out.finish()


if __name__ == "__main__":
    main()
