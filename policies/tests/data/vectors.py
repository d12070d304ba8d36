#!/usr/bin/env python3
"""Independent generator and checker of the identifier reference vectors.

Run from this directory: `python3 vectors.py` rewrites the four vector files.
It implements GB 32100-2015 (unified social credit code), GB 11714 (its
organisation code check character) and GB 11643-1999 (citizen identity number)
on its own, without the Rust code under test.

- uscc_valid.txt: published codes of well-known organisations (each checked
  here; any that failed was dropped), plus synthetic codes marked as such.
- citizen_id_valid.txt: SYNTHETIC numbers only, birth dates in 1900-1909 and
  sequence codes chosen here; they are not real people's numbers.
- *_invalid.txt: each line breaks exactly one rule, named by the tag after
  '#', which the Rust tests map to the expected error.
"""

ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W18 = [pow(3, i, 31) for i in range(17)]
assert W18 == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_W = [3, 7, 9, 10, 5, 8, 4, 2]
CID_W = [pow(2, 17 - i, 11) for i in range(17)]
assert CID_W == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43,
             44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
TYPES = {"1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129",
         "7": "129", "8": "19", "9": "123", "A": "19", "N": "1239", "Y": "1"}


def uscc_check(first17):
    s = sum(ALPHA.index(c) * w for c, w in zip(first17, W18))
    v = 31 - s % 31
    return ALPHA[0 if v == 31 else v]


def org_check(body8):
    val = lambda c: int(c) if c.isdigit() else ord(c) - ord("A") + 10
    v = 11 - sum(val(c) * w for c, w in zip(body8, ORG_W)) % 11
    return "X" if v == 10 else "0" if v == 11 else str(v)


def uscc_errors(c):
    """All rules of GB 32100 the code breaks (empty list = valid)."""
    errs = []
    if len(c) != 18:
        return ["length"]
    if any(ch not in ALPHA for ch in c):
        return ["character"]
    if c[0] not in TYPES:
        return ["authority"]
    if c[1] not in TYPES[c[0]]:
        errs.append("entity_type")
    div = c[2:8]
    if not div.isdigit() or not (div == "100000" or int(div[:2]) in PROVINCES):
        errs.append("division")
    if org_check(c[8:16]) != c[16]:
        errs.append("org_check")
    if uscc_check(c[:17]) != c[17]:
        errs.append("check_digit")
    return errs


def make_uscc(prefix8, org_body8):
    first17 = prefix8 + org_body8 + org_check(org_body8)
    return first17 + uscc_check(first17)


def cid_check(first17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, CID_W)) % 11]


def make_cid(region6, birth8, seq3):
    first17 = region6 + birth8 + seq3
    return first17 + cid_check(first17)


PUBLISHED = [
    ("9144030071526726XG", "腾讯科技（深圳）有限公司 Tencent Technology (Shenzhen)"),
    ("91440300708461136T", "深圳市腾讯计算机系统有限公司 Shenzhen Tencent Computer Systems"),
    ("914403001922038216", "华为技术有限公司 Huawei Technologies"),
    ("91110000802100433B", "北京百度网讯科技有限公司 Beijing Baidu Netcom"),
    ("91330100799655058B", "阿里巴巴（中国）有限公司 Alibaba (China)"),
    ("91110108551385082Q", "小米科技有限责任公司 Xiaomi"),
    ("91520000214434146R", "中航重机股份有限公司 AVIC Heavy Machinery (Guizhou)"),
    ("12440300455752807L", "清华大学深圳国际研究生院 (public institution, 12)"),
    ("51100000500002862F", "中国自动化学会 (national social organisation, division 100000)"),
    ("51100000500009247D", "中国复合材料工业协会 (national social organisation)"),
    ("51100000500012681T", "中国医疗保健国际交流促进会 (national social organisation)"),
    # Checked and dropped (fail the check character as commonly quoted):
    # 51100000500000024G, 91110108717809965C.
]

SYNTHETIC_USCC = [
    (make_uscc("91520102", "MA6DXKQ1"), "synthetic: enterprise, Guiyang, post-2015 MA organisation code"),
    (make_uscc("92500105", "MA5U7Y3B"), "synthetic: individual business 个体工商户, Chongqing"),
    (make_uscc("93440300", "MA5FQ2LP"), "synthetic: farmers' cooperative 农民专业合作社"),
    (make_uscc("31520000", "MD012345"), "synthetic: law firm 律师执业机构"),
    (make_uscc("N2520102", "MF1234AB"), "synthetic: village collective economic organisation"),
    (make_uscc("A1110000", "MB9C8D7E"), "synthetic: military public institution"),
    (make_uscc("Y1110000", "MC00AA11"), "synthetic: other registration authority"),
    (make_uscc("53100000", "50000123"), "synthetic: national foundation 基金会"),
]

TENCENT = "9144030071526726XG"


def with_check(first17):
    return first17 + uscc_check(first17)


INVALID_USCC = [
    ("9144030071526726XH", "check_digit: final check character changed G -> H"),
    ("914403001922038217", "check_digit: Huawei with last digit 6 -> 7"),
    (with_check("9144030071526762X"), "org_check: two organisation code digits swapped, final check recomputed"),
    (with_check("91440300715267263"), "org_check: organisation check X -> 3, final check recomputed"),
    ("9144030071526726xg", "lowercase: lower-case letters"),
    ("9144030071526726IG", "character: I is not in the alphabet"),
    ("91440300715267O6XG", "character: O is not in the alphabet"),
    ("9144030071526726SG", "character: S is not in the alphabet"),
    ("914403007152V726XG", "character: V is not in the alphabet"),
    ("9144030071526726ZG", "character: Z is not in the alphabet"),
    ("9144030071526726X", "length: 17 characters"),
    ("9144030071526726XG0", "length: 19 characters"),
    (make_uscc("B1440300", "71526726"), "authority: B is not a registration authority code"),
    (make_uscc("94440300", "71526726"), "entity_type: authority 9 issues types 1, 2, 3 only"),
    (make_uscc("Y2440300", "71526726"), "entity_type: authority Y issues type 1 only"),
    (make_uscc("54100000", "50000123"), "entity_type: authority 5 issues 1, 2, 3, 9 (4 given)"),
    (make_uscc("91990300", "71526726"), "division: province 99 does not exist"),
    (make_uscc("91000000", "71526726"), "division: 000000 is not a registration division"),
    (make_uscc("91160000", "71526726"), "division: province 16 does not exist"),
    (make_uscc("9144A300", "71526726"), "division: letter in the division code"),
]

VALID_CID = [
    (make_cid("520102", "19000101", "001"), "synthetic: Guiyang Nanming, 1900-01-01"),
    (make_cid("520102", "19000101", "002"), "synthetic: same date, next sequence"),
    (make_cid("500103", "19010315", "217"), "synthetic: Chongqing Yuzhong"),
    (make_cid("440305", "19020704", "538"), "synthetic: Shenzhen Nanshan"),
    (make_cid("110105", "19040229", "999"), "synthetic: leap day 1904-02-29"),
    (make_cid("650102", "19091231", "000"), "synthetic: Urumqi, sequence 000"),
    (make_cid("810000", "19050505", "123"), "synthetic: Hong Kong residence permit prefix 81"),
    (make_cid("830000", "19060606", "456"), "synthetic: Taiwan residence permit prefix 83"),
    (make_cid("130102", "19070707", "777"), "synthetic"),
    (make_cid("310101", "19080808", "888"), "synthetic"),
]
# Make sure at least one valid vector ends in X.
seq = 0
while True:
    cid = make_cid("520103", "19030303", f"{seq:03d}")
    if cid.endswith("X"):
        VALID_CID.append((cid, "synthetic: check character X"))
        break
    seq += 1

base = make_cid("520102", "19000101", "001")


def flip_check(c):
    return c[:17] + ("0" if c[17] != "0" else "1")


INVALID_CID = [
    (flip_check(base), "check_digit: last character changed"),
    (base[:15] + base[16] + base[15] + base[17:], "check_digit: two sequence digits swapped"),
    (VALID_CID[-1][0][:17] + "x", "lowercase: check character x must be capital X"),
    (make_cid("990102", "19000101", "001"), "province: 99 is not a province-level code"),
    (make_cid("000000", "19000101", "001"), "province: 00 is not a province-level code"),
    (make_cid("840102", "19000101", "001"), "province: 84 is not a province-level code"),
    (make_cid("520102", "19010229", "001"), "birth_date: 1901-02-29 does not exist"),
    (make_cid("520102", "19001301", "001"), "birth_date: month 13"),
    (make_cid("520102", "19000100", "001"), "birth_date: day 00"),
    (make_cid("520102", "17990101", "001"), "birth_range: born before 1850"),
    ("52010219000101001", "length: 17 characters"),
    ("5201021900010100190", "length: 19 characters"),
    ("520102000101001", "first_generation: 15-digit first-generation number"),
    ("52010219000101A019", "character: letter inside the digits"),
    ("５20102190001010019", "character: full-width digit"),
]


def cid_errors(c):
    if len(c) != 18:
        return ["length"]
    if not (c[:17].isascii() and c[:17].isdigit()) or c[17] not in "0123456789X":
        return ["character"]
    errs = []
    if int(c[:2]) not in PROVINCES | {83}:
        errs.append("province")
    import datetime
    try:
        d = datetime.date(int(c[6:10]), int(c[10:12]), int(c[12:14]))
        if d.year < 1850:
            errs.append("birth_range")
    except ValueError:
        errs.append("birth_date")
    if cid_check(c[:17]) != c[17]:
        errs.append("check_digit")
    return errs


def write(name, header, rows):
    with open(name, "w", encoding="utf-8") as f:
        f.write(header)
        for code, why in rows:
            f.write(f"{code}  # {why}\n")


for c, _ in PUBLISHED + SYNTHETIC_USCC:
    assert uscc_errors(c) == [], (c, uscc_errors(c))
for c, why in INVALID_USCC:
    tag = why.split(":")[0]
    errs = uscc_errors(c)
    if tag == "lowercase":
        errs = ["lowercase"] if uscc_errors(c.upper()) == [] else errs
    assert errs == [tag], (c, why, errs)
for c, _ in VALID_CID:
    assert cid_errors(c) == [], (c, cid_errors(c))
for c, why in INVALID_CID:
    tag = why.split(":")[0]
    errs = cid_errors(c)
    if tag == "lowercase":
        errs = ["lowercase"] if cid_errors(c.upper()) == [] else errs
    if tag == "first_generation":
        errs = ["first_generation"] if len(c) == 15 and c.isdigit() else errs
    assert errs == [tag], (c, why, errs)

HEAD = "# Generated and checked by vectors.py (independent of the Rust code). Do not edit by hand.\n"
write("uscc_valid.txt", HEAD + "# Unified social credit codes (GB 32100-2015) that must be accepted.\n",
      PUBLISHED + SYNTHETIC_USCC)
write("uscc_invalid.txt", HEAD + "# Each line breaks exactly one rule; the tag before ':' names it.\n",
      INVALID_USCC)
write("citizen_id_valid.txt", HEAD + "# SYNTHETIC citizen identity numbers (GB 11643-1999): birth dates 1900-1909,\n"
      "# sequence codes chosen by the script. Not real people's numbers.\n", VALID_CID)
write("citizen_id_invalid.txt", HEAD + "# Each line breaks exactly one rule; the tag before ':' names it.\n",
      INVALID_CID)
print("ok")
