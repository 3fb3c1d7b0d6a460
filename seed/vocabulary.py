"""Words the demo generator composes names from (Chinese, Uyghur, Kazakh in Arabic script, English)."""

from __future__ import annotations

from typing import NamedTuple


class Words(NamedTuple):
    zh: str
    ug: str
    kk: str
    en: str


# (code, name, region-level suffix): kinds of government department.
DEPARTMENT_KINDS: tuple[tuple[str, Words, str], ...] = (
    ("GA", Words("公安", "جامائەت خەۋپسىزلىكى", "قوعامدىق قاۋىپسىزدىك", "Public Security"), "厅"),
    ("SJ", Words("市场监督管理", "بازار نازارەت باشقۇرۇش", "نارىقتى قاداعالاۋ", "Market Regulation"), "局"),
    ("ZR", Words("自然资源", "تەبىئىي بايلىق", "تابيعي رەسۋرستار", "Natural Resources"), "厅"),
    ("MZ", Words("民政", "خەلق ئىشلىرى", "حالىق ىستەرى", "Civil Affairs"), "厅"),
    ("RS", Words("人力资源和社会保障", "ئادەم كۈچى بايلىقى ۋە ئىجتىمائىي كاپالەت",
                 "ادام رەسۋرستارى جانە الەۋمەتتىك قامسىزداندىرۋ", "Human Resources and Social Security"), "厅"),
    ("WJ", Words("卫生健康", "سەھىيە", "دەنساۋلىق ساقتاۋ", "Health"), "委员会"),
    ("SW", Words("税务", "باج", "سالىق", "Taxation"), "局"),
    ("JY", Words("教育", "مائارىپ", "ءبىلىم بەرۋ", "Education"), "厅"),
)
# Kinds that also exist at county level.
COUNTY_KINDS = ("GA", "SJ", "MZ")
SUPERVISOR = ("ZW", Words("政务服务和大数据管理", "ھۆكۈمەت مۇلازىمىتى ۋە چوڭ سانلىق مەلۇمات باشقۇرۇش",
                          "مەملەكەتتىك قىزمەت جانە ۇلكەن دەرەكتەردى باسقارۋ",
                          "Government Services and Big Data Administration"), "局")
BUREAU = Words("局", "ئىدارىسى", "باسقارماسى", "Bureau")
REGION_PREFIX = Words("自治区", "ئاپتونوم رايونلۇق", "اۆتونوميالى رايوندىق", "Autonomous Region")

# Theme (主题) and department (部门) catalog subjects.
SUBJECTS: tuple[Words, ...] = (
    Words("行政许可", "مەمۇرىي ئىجازەت", "اكىمشىلىك رۇقسات", "administrative licensing"),
    Words("行政处罚", "مەمۇرىي جازا", "اكىمشىلىك جازا", "administrative penalty"),
    Words("社会救助", "ئىجتىمائىي قۇتقۇزۇش", "الەۋمەتتىك كومەك", "social assistance"),
    Words("养老保险", "قېرىلار سۇغۇرتىسى", "زەينەتاقى ساقتاندىرۋ", "pension insurance"),
    Words("医疗机构", "داۋالاش ئاپپاراتى", "مەديتسينالىق مەكەمە", "medical institution"),
    Words("土地登记", "يەر تىزىملاش", "جەر تىركەۋ", "land registration"),
    Words("学校名录", "مەكتەپ تىزىملىكى", "مەكتەپ ءتىزىمى", "school directory"),
    Words("纳税信用", "باج ئىناۋىتى", "سالىق سەنىمدىلىگى", "tax credit"),
    Words("婚姻登记", "نىكاھ تىزىملاش", "نەكە تىركەۋ", "marriage registration"),
    Words("就业登记", "ئىشقا ئورۇنلىشىش تىزىملاش", "جۇمىسپەن قامتۋ تىركەۋ", "employment registration"),
    Words("食品经营", "يېمەكلىك تىجارىتى", "تاماق ونىمدەرى ساۋداسى", "food business"),
    Words("不动产权", "كۆچمەس مۈلۈك ھوقۇقى", "جىلجىمايتىن مۇلىك قۇقىعى", "real estate title"),
    Words("疫苗接种", "ۋاكسىنا ئەملەش", "ۆاكتسينا ەگۋ", "vaccination"),
    Words("残疾人证", "مېيىپلار گۇۋاھنامىسى", "مۇگەدەكتىك كۋالىگى", "disability certificate"),
)
KINDS_OF_RECORD: tuple[Words, ...] = (
    Words("信息", "ئۇچۇرى", "مالىمەتى", "information"),
    Words("目录", "مۇندەرىجىسى", "ءتىزىمى", "register"),
    Words("统计", "ستاتىستىكىسى", "ستاتيستيكاسى", "statistics"),
    Words("台账", "ھېساباتى", "ەسەبى", "ledger"),
)
THEMES: tuple[Words, ...] = (
    Words("营商环境", "سودا مۇھىتى", "ساۋدا ورتاسى", "business environment"),
    Words("乡村振兴", "يېزا گۈللەندۈرۈش", "اۋىلدى جاڭعىرتۋ", "rural revitalisation"),
    Words("健康医疗", "ساغلاملىق داۋالاش", "دەنساۋلىق جانە ەم", "health care"),
    Words("社会保障", "ئىجتىمائىي كاپالەت", "الەۋمەتتىك قامسىزداندىرۋ", "social security"),
    Words("生态环境", "ئېكولوگىيەلىك مۇھىت", "ەكولوگيالىق ورتا", "ecological environment"),
)

LEGAL_BASES = (
    "《中华人民共和国个人信息保护法》第二十八条（生物识别等敏感个人信息）",
    "《中华人民共和国居民身份证法》第六条（公安机关对知悉的公民个人信息应当予以保密）",
    "《中华人民共和国税收征收管理法》第八条（纳税人的税收违法行为以外的信息依法保密）",
    "《中华人民共和国保守国家秘密法》第二条",
    "《中华人民共和国统计法》第三十九条（统计调查中获得的单个调查对象资料不得对外提供）",
    "《中华人民共和国数据安全法》第二十一条（重要数据目录管理）",
)
SHARE_CONDITIONS = (
    "仅限履行法定职责需要，经提供部门审批后使用",
    "仅用于行政审批和公共服务事项的资格核验",
    "限本行政区域内使用，使用部门承担保密责任",
)

HAN_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
HAN_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅海燕鹏飞晨宇欣怡浩然子涵新疆天山博文"
UYGHUR_NAMES = ("艾力", "买买提", "阿不都", "热依拉", "古丽", "努尔", "吐尔逊", "阿依古丽", "帕提古丽", "麦麦提",
                "艾买提", "依明", "热合曼", "阿布拉", "迪丽娜尔", "玉素甫", "库尔班", "阿迪力", "米热古丽", "沙吾提")
KAZAKH_NAMES = ("叶尔兰", "努尔兰", "阿斯哈尔", "别克", "哈力木", "古丽娜尔", "阿依达娜", "叶尔肯", "加娜尔",
                "托列根", "马合沙提", "阿依古丽", "巴合提", "江布尔")
ROADS = ("人民", "解放", "团结", "新华", "友好", "光明", "建设", "胜利", "天山", "昆仑", "北京", "长江")
ENTERPRISE_WORDS = ("天润", "金丰", "瑞祥", "丝路", "雪莲", "天池", "昆仑", "博源", "鑫盛", "绿洲", "胡杨", "沙棘")
INDUSTRIES = ("商贸", "农业科技", "建筑工程", "物流", "餐饮管理", "纺织", "能源", "信息技术", "旅游开发", "果业")
SCOPES = ("一般项目：农产品销售；货物进出口", "许可项目：建设工程施工；一般项目：建筑材料销售",
          "一般项目：软件开发；信息系统集成服务", "许可项目：餐饮服务；一般项目：食品销售（仅销售预包装食品）",
          "一般项目：道路货物运输（不含危险货物）；仓储服务")
