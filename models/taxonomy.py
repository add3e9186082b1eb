"""Bilingual (Chinese/English) vocabularies for the City Partner matcher.

Three vocabularies live here: industries (a sector -> industry -> sub-industry tree),
funding stages (an ordered ladder plus "strategic"), and Wuhan areas (districts and
development zones with centroids). Every public function accepts any spelling we know
(code, Chinese, English, alias) and returns the stable ASCII code, so the rest of the
code base only ever stores and compares codes.

Matching of free text is forgiving on purpose: look-ups go through `_key`, which
NFKC-folds (full-width ``Ａ轮`` == ``A轮``, ``（`` == ``(``), case-folds and drops
spaces, hyphens, underscores, dots, slashes and apostrophes, so ``Series-A``,
``series a`` and ``seriesA`` are one key. All indexes are built once at import and
checked for collisions, so a look-up is a single dict hit.

Data sources that shaped the vocabularies (read, never copied):

* cyzone (创业邦) events 2010-2019: ``industries`` is a comma list that is usually
  top-level first (``医疗健康,医药服务,药品生产``) but in many rows leaf first
  (``药品生产,医药服务,医疗健康``), and rows of 6 tags are two such paths glued
  together. The aliases below were placed by reconstructing cyzone's own
  parent/child links from those rows; `map_cyzone_industries` copes with both orders.
* Crunchbase 2013: 42 ``category_code`` values and 9 ``funding_round_type`` values.

This module is stdlib-only so that the API and the CLI can import it cheaply.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "ANYWHERE",
    "AREAS",
    "CYZONE_AMBIGUOUS_TAGS",
    "CYZONE_PLACEHOLDER_TAGS",
    "INDUSTRIES",
    "STAGES",
    "STRATEGIC_DISTANCE",
    "Area",
    "Industry",
    "Stage",
    "UnknownTermError",
    "distance_km",
    "industry_ancestors",
    "industry_sector",
    "industry_similarity",
    "map_crunchbase_category",
    "map_crunchbase_round",
    "map_cyzone_industries",
    "map_cyzone_round",
    "normalize_area",
    "normalize_industry",
    "normalize_stage",
    "stage_distance",
]


class UnknownTermError(ValueError):
    """A value that is not in one of the vocabularies.

    Subclasses ValueError so that callers validating user input (pydantic validators,
    FastAPI handlers) can treat it like any other bad value.
    """

    def __init__(self, vocabulary: str, value: str, suggestions: Sequence[str] = ()) -> None:
        self.vocabulary = vocabulary
        self.value = value
        self.suggestions = tuple(suggestions)
        hint = (
            "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
            if self.suggestions
            else "no close matches"
        )
        super().__init__(f"unknown {vocabulary} {value!r}: {hint}")

    def __reduce__(self) -> tuple[type[UnknownTermError], tuple[str, str, tuple[str, ...]]]:
        # The default pickling replays self.args (the formatted message) into __init__,
        # which has a different signature; multiprocessing workers would crash on it.
        return (type(self), (self.vocabulary, self.value, self.suggestions))


_SEPARATORS: Final = re.compile(r"[\s\-_.·'’/]+")


def _key(value: str) -> str:
    """The look-up key: spelling variants that people actually type collapse together."""
    folded = unicodedata.normalize("NFKC", value).casefold().replace("&", "and")
    return _SEPARATORS.sub("", folded)


class _Vocabulary:
    """Key -> code index for one vocabulary, with difflib suggestions for misses."""

    def __init__(self, name: str, entries: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.name = name
        self._index: dict[str, str] = {}
        self._spellings: dict[str, str] = {}  # key -> a human spelling, for suggestions
        for code, spellings in entries:
            for spelling in (code, *spellings):
                key = _key(spelling)
                if not key:
                    continue
                owner = self._index.setdefault(key, code)
                if owner != code:
                    # A shared alias would make look-ups depend on table order; fail loudly
                    # at import instead of silently mis-filing someone's start-up.
                    raise RuntimeError(f"{name} spelling {spelling!r} maps to both {owner!r} and {code!r}")
                self._spellings.setdefault(key, spelling)

    def get(self, value: str) -> str | None:
        return self._index.get(_key(value))

    def lookup(self, value: str) -> str:
        code = self.get(value)
        if code is None:
            raise UnknownTermError(self.name, value, self.suggest(value))
        return code

    def suggest(self, value: str, limit: int = 3) -> list[str]:
        # Only runs on the error path, so scanning every spelling is acceptable.
        keys = difflib.get_close_matches(_key(value), self._spellings, n=limit, cutoff=0.6)
        return [self._spellings[k] for k in keys]


# ---------------------------------------------------------------------------------------
# Industries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Industry:
    """One node of the industry tree; sectors have ``parent is None``."""

    code: str
    zh: str
    en: str
    parent: str | None
    aliases: tuple[str, ...] = ()


# (code, zh, en, parent, aliases joined by "|"). The "|"-joined form keeps ~900 cyzone
# sub-tags readable; after the hand-written aliases of each row come the cyzone tags
# that are filed under it. Tags are kept only if they occur at least twice in the
# cyzone events or appear as a row's first tag, so one-off noise does not become
# vocabulary.
_INDUSTRY_ROWS: Final[tuple[tuple[str, str, str, str | None, str], ...]] = (
    # --- sector: Information technology
    # Sectors are ours, not cyzone's: the plan's three (信息技术, 生命健康, 智能制造) plus
    # enough others that every cyzone top-level tag has a home. Where a cyzone top-level tag
    # already is a sector-sized bucket (智能制造, 金融, 文化娱乐, 教育培训, 传统行业, 农业) it *is*
    # the sector, so its Chinese label stays exactly as in the data.
    (
        "information_technology",
        "信息技术",
        "Information technology",
        None,
        "IT|信息产业|新一代信息技术|光电子信息|tech|technology|Information and communication technology|ICT",
    ),
    # --- sector: Life and health
    (
        "life_health",
        "生命健康",
        "Life and health",
        None,
        "大健康|生物医药与健康|Life sciences and health|life sciences|health and life sciences",
    ),
    # --- sector: Intelligent manufacturing
    # Same label as the cyzone top-level tag on purpose: it is both the plan's sector and the tag.
    (
        "intelligent_manufacturing",
        "智能制造",
        "Intelligent manufacturing",
        None,
        "smart manufacturing|advanced manufacturing|高端装备制造|先进制造|三维建模",
    ),
    # --- sector: Finance
    # 金融服务 (cyzone uses it for healthcare financing) is deliberately NOT an alias here;
    # see CYZONE_AMBIGUOUS_TAGS.
    (
        "finance",
        "金融",
        "Finance",
        None,
        "金融业|financial services|金融服务业|金融综合|担保|传统金融机构|众筹|银行|征信机构|金融超市|"
        "传统银行|金融社区|信托|金融媒体|企业金融|记账软件|互联网银行|典当|金融安全|金融数据库",
    ),
    # --- sector: Culture and entertainment
    # 直播 is split between 文化娱乐 and 教育培训 in cyzone; the streaming platforms
    # (陌陌, 9158) are entertainment, so that is where the bare tag goes.
    (
        "culture_entertainment",
        "文化娱乐",
        "Culture and entertainment",
        None,
        "文娱|文化创意|文创|entertainment|media and entertainment|娱乐|内容产业|直播|游戏动漫|IP|"
        "艺人经纪|艺术|直播平台|文体娱乐|IP孵化|艺术品平台|艺人网红孵化|经纪公司|原创IP|秀场直播|"
        "IP运营|版权服务|艺人网红|艺术电商|IP交易|粉丝社区|星座占卜|艺术品拍卖|绘画|线下演出|"
        "直播内容制作|直播工具|语音直播",
    ),
    # --- sector: Education and training
    (
        "education",
        "教育培训",
        "Education and training",
        None,
        "教育|education & training|培训|教育综合服务|教育社区|综合性教育|家庭教育|培训机构|母婴教育|"
        "录播|招生服务",
    ),
    # --- sector: Consumer and lifestyle
    ("consumer_lifestyle", "消费生活", "Consumer and lifestyle", None, "消费升级|consumer|lifestyle"),
    # --- sector: Mobility and logistics
    (
        "mobility_logistics",
        "交通物流",
        "Mobility and logistics",
        None,
        "交通运输|transportation and logistics|mobility",
    ),
    # --- sector: Energy and environment
    (
        "energy_environment",
        "能源环保",
        "Energy and environment",
        None,
        "节能环保|cleantech|clean technology|energy and environmental protection",
    ),
    # --- sector: Traditional industries
    (
        "traditional_industries",
        "传统行业",
        "Traditional industries",
        None,
        "traditional industry|传统产业|工业|轻工业|工业大数据|重工业",
    ),
    # --- sector: Agriculture
    (
        "agriculture",
        "农业",
        "Agriculture",
        None,
        "现代农业|agritech|agtech|农林牧渔|农业金融|农资|农机|农产品流通|农业生产|农村土地|传统农业|"
        "农业供应链",
    ),
    # 传统企业服务 is cyzone's catch-all second level; it stays an alias so that its
    # big children (IT服务, 咨询服务, 人力资源) can be real industries one level down.
    (
        "enterprise_services",
        "企业服务",
        "Enterprise services",
        "information_technology",
        "B2B services|business services|传统企业服务|企业级服务|ToB|外包开发|DSP|开发者服务|财税服务|"
        "法律服务|开发工具|检测认证|会展服务|网络服务|供应链|IDC|策划服务|行政服务|众包服务|客户服务|"
        "办公用地租赁|公关服务|硬件设备|站长工具|设计工具|应用分发|工商服务|调研服务|商业摄影",
    ),
    ("it_services", "IT服务", "IT services", "enterprise_services", "information technology services"),
    ("consulting_services", "咨询服务", "Consulting services", "enterprise_services", "consulting|咨询"),
    ("human_resources", "人力资源", "Human resources", "enterprise_services", "HR|HR tech|招聘"),
    (
        "marketing",
        "推广营销",
        "Marketing and advertising",
        "enterprise_services",
        "营销|广告|advertising|marketing tech|martech|adtech|广告营销|整合营销|精准营销|大数据营销|"
        "品牌营销|网络营销|场景化营销|内容营销|移动营销|流量分发|流量营销",
    ),
    (
        "saas",
        "SAAS",
        "SaaS",
        "enterprise_services",
        "software as a service|企业软件|enterprise software|管理系统|通用saas|垂直saas",
    ),
    (
        "cloud_services",
        "云服务",
        "Cloud services",
        "enterprise_services",
        "cloud|cloud computing|云计算|云平台|云通讯|云存储|私有云|云托管",
    ),
    (
        "enterprise_security",
        "企业安全",
        "Enterprise security",
        "enterprise_services",
        "cybersecurity|security|信息安全|网络安全|cyber security|安全监控|云安全|物联网安全",
    ),
    (
        "startup_services",
        "创业服务",
        "Startup services",
        "enterprise_services",
        "incubator|incubation|孵化器|众创空间|创客教育|创业咨询|创业媒体|创业社交|融资服务|创业培训",
    ),
    # 消费级终端硬件 mixes gadgets with robots in cyzone; robots are peeled off into
    # `robotics` (see there), the rest stays at the AI level rather than guessing.
    (
        "artificial_intelligence",
        "人工智能",
        "Artificial intelligence",
        "information_technology",
        "AI|A.I.|消费级终端硬件|小型智能硬件",
    ),
    (
        "ai_applications",
        "场景应用层",
        "AI applications",
        "artificial_intelligence",
        "AI应用|AI application|AI制造|AI农业|AI零售|AI教育|AI企业服务|AI创作|AI安防",
    ),
    (
        "ai_technology",
        "基础技术层",
        "AI core technology",
        "artificial_intelligence",
        "AI技术|machine learning|deep learning|computer vision|通用技术层|计算机视觉|生物特征识别|"
        "语音识别|人机交互|图像识别|深度学习|自然语言处理|语义分析|知识图谱|视频识别|声纹识别|"
        "手势识别",
    ),
    (
        "ai_infrastructure",
        "基础层",
        "AI infrastructure",
        "artificial_intelligence",
        "AI基础设施|AI chips|AI芯片",
    ),
    (
        "big_data",
        "大数据",
        "Big data",
        "information_technology",
        "data|数据|data analytics|analytics|新媒体营销|大数据安全|数据安全|大数据基础技术|"
        "大数据通用应用|数据库|用户行为分析|数据基础架构|数据监测|互动营销|舆情监测|日志分析|数据标注|"
        "BI(商业智能)|数据集成|数据整合|Hadoop|广告监测|分布式数据库|大数据平台|大数据分析平台",
    ),
    (
        "data_services",
        "数据服务",
        "Data services",
        "big_data",
        "数据分析|data analysis|数据挖掘|数据采集|数据存储|大数据解决方案|数据可视化|数据交易|"
        "大数据预处理|数据统计",
    ),
    (
        "big_data_applications",
        "大数据行业应用",
        "Industry big-data applications",
        "big_data",
        "大数据应用|企业大数据|商业数据|零售大数据|体育大数据|房产大数据|交通大数据|娱乐大数据|"
        "电商大数据|旅游大数据",
    ),
    (
        "internet_of_things",
        "物联网",
        "Internet of things",
        "information_technology",
        "IoT|iot|万物互联|物联网应用|物联网技术|物联网硬件|物联网智能终端|智能安防|智慧交通|RFID技术|"
        "智能电网|物联网平台|智慧零售|视觉处理|室内定位|设备管理平台|物流物联网|语音交互|生物识别|"
        "智慧供水|智能物流设备|蓝牙|WIFI|MEMS|物联网服务|连接管理平台|物联网边缘计算|智能表计|"
        "传感器技术|应用软件开发平台|操作系统平台",
    ),
    (
        "smart_home",
        "智能家居",
        "Smart home",
        "internet_of_things",
        "home automation|智能门锁|其他智能家居硬件|智能厨具|智能家具",
    ),
    ("smart_city", "智慧城市", "Smart city", "internet_of_things", "smart cities|数字城市|新型智慧城市"),
    (
        "blockchain",
        "区块链",
        "Blockchain",
        "information_technology",
        "distributed ledger|web3|crypto|底层技术及基础设施|区块链技术综合|区块链应用|数字货币|"
        "区块链技术平台服务层|区块链媒体|区块链行业资讯|数字资产服务|数字货币支付|区块链社区|"
        "数字货币交易|区块链游戏|数字货币行情资讯|区块链工具|区块链信息安全|区块链保险|区块链钱包|"
        "区块链证券交易|区块链营销|其他区块链应用|其他区块链工具|区块链文娱|区块链社交|区块链支付|"
        "智能合约|数字资产交易所|区块链医疗|区块链矿业|区块链体育|区块链旅游|区块链供应链|区块链能源|"
        "区块链版权|区块链电子商务|防伪溯源|区块链资产管理|基础协议|矿机|数字货币挖矿服务|区块链农业",
    ),
    (
        "vr_ar",
        "VR/AR",
        "VR and AR",
        "information_technology",
        "VR|AR|虚拟现实|增强现实|virtual reality|augmented reality|XR|ARVR|元宇宙|VR/AR内容（内容层）|"
        "AR游戏|VR/AR硬件（产品层）|VR/AR显示设备|VR/AR应用（应用层）|VR/AR支撑软件（技术层）|"
        "VR/AR软件|VR/AR内容制作|VR/AR游戏|VR/AR显示设备全景相机|VR/AR看房|VR/AR传感器|VR/AR影视|"
        "VR/AR运动捕捉设备|全景视频|VR/AR平台（分发平台）|VR/AR线下体验馆|VR/AR教育|VR/AR系统平台|"
        "VR/AR体感设备|VR/AR底层技术（技术层）|VR/AR直播|VR/AR视频|动作捕捉|VR系统平台|"
        "VR/AR内容聚合平台",
    ),
    (
        "hardware",
        "硬件",
        "Hardware",
        "information_technology",
        "smart hardware|智能硬件|consumer electronics|消费电子|传感器|物联网基础硬件|其他智能硬件|"
        "可穿戴设备|其他可穿戴硬件|IT硬件设施|物联网中间件|移动手持硬件|智能手表|智能配件",
    ),
    (
        "tool_software",
        "工具软件",
        "Tool software",
        "information_technology",
        "软件|software|apps|utilities|应用软件|日常应用|系统工具|其他工具|小程序|安全隐私|个人办公工具",
    ),
    (
        "telecom",
        "信息通信",
        "Information and communications",
        "information_technology",
        "通信|telecommunications|telecom|通讯|communications|通信配件及设备|通讯技术|无线集群通信|5G|"
        "通信软件|通讯卫星|运营商|通信基站|量子通讯|4G|WIFI服务",
    ),
    (
        "optical_communications",
        "光通信",
        "Optical communications",
        "telecom",
        "光通讯|光纤通信|光纤|optical fiber|光电子|optoelectronics|photonics|光纤传输",
    ),
    # Crunchbase's web/search/mobile have no closer home, hence the broad English name.
    (
        "mobile_internet",
        "移动互联网",
        "Mobile and consumer internet",
        "information_technology",
        "互联网|internet|consumer internet|mobile",
    ),
    # cyzone files 集成电路 under 智能制造; Wuhan (光谷, "光芯屏端网") treats chips as
    # information technology, and so do we. 芯片 from every cyzone branch lands here.
    (
        "integrated_circuits",
        "集成电路",
        "Integrated circuits",
        "information_technology",
        "芯片|半导体|semiconductors|semiconductor|chips|IC|显示面板|新型显示|半导体集成电路|"
        "物联网芯片|网络通信芯片|模拟集成电路|数/模混合集成|可编程逻辑器件",
    ),
    (
        "healthcare",
        "医疗健康",
        "Healthcare",
        "life_health",
        "医疗|health care|medical|health|卫生健康|医疗卫生|患者服务|医疗支持服务|医疗解决方案|"
        "慢病管理|寻医诊疗|专科服务|医疗咨询|中医|医疗投资|医疗保险|挂号|医疗门户网站|私人医生|"
        "跨境医疗|医疗平台|病友社区|陪诊服务|互助众筹|医疗健康咨询|媒体社区",
    ),
    (
        "pharmaceuticals",
        "医药服务",
        "Pharmaceuticals",
        "healthcare",
        "医药|制药|pharma|pharmaceutical|drugs|药品|药品生产|中药|药物研发|医药电商|医药销售|医药零售|"
        "医药外包|医药检测|医药安全|医药B2C",
    ),
    (
        "medical_devices",
        "医疗器械",
        "Medical devices",
        "healthcare",
        "medical equipment|medtech|医疗设备|医疗智能硬件|体外诊断设备|医用耗材|诊断试剂|成像设备",
    ),
    (
        "health_wellness",
        "健康保健",
        "Health and wellness",
        "healthcare",
        "wellness|大健康服务|养老|eldercare|健康管理|保健品|养老服务|养生保健|康复理疗|心理健康|"
        "女性健康|美容整形|母婴管理|两性生活|康复调理",
    ),
    (
        "medical_informatics",
        "医疗信息化",
        "Medical informatics",
        "healthcare",
        "digital health|医疗IT|health IT|互联网医疗|智慧医疗|精准医疗|医疗大数据|医疗物联网|AI医疗|"
        "移动医疗|医院信息系统|远程医疗|在线医疗|医保信息化|医疗Saas|医疗工具类软件|电子病历",
    ),
    ("medical_institutions", "医疗机构", "Medical institutions", "healthcare", "医院|hospitals|clinics|诊所"),
    # A level-1 industry of its own rather than a child of 医疗健康: cyzone files 生物技术
    # under 新农业, but the investees are overwhelmingly biopharma (e.g. 诺思兰德), and
    # 光谷生物城 investors think of it as its own field.
    (
        "biotechnology",
        "生物技术",
        "Biotechnology",
        "life_health",
        "生物科技|biotech|生物医药|biopharma|生命科学|医疗技术|biomedicine|生物制药|基因检测|基因测序|"
        "生物生命科学",
    ),
    (
        "intelligent_equipment",
        "智能制造装备",
        "Intelligent manufacturing equipment",
        "intelligent_manufacturing",
        "高端装备|智能装备|装备制造|industrial equipment|精密仪器|充电设备|精密仪表|大型智能工程机械",
    ),
    (
        "instruments_equipment",
        "仪器设备",
        "Instruments and equipment",
        "intelligent_equipment",
        "仪器仪表|instruments",
    ),
    (
        "electrical_equipment",
        "电气设备",
        "Electrical equipment",
        "intelligent_equipment",
        "电气|电力设备|无线充电|充电设备研发",
    ),
    ("laser_equipment", "激光设备", "Laser equipment", "intelligent_equipment", "激光|lasers|laser|激光器"),
    (
        "smart_factory",
        "智能工厂",
        "Smart factory",
        "intelligent_manufacturing",
        "工业互联网|industrial internet|industry 4.0|工业4.0|数字化工厂|工业自动化|工业物联网|"
        "工业信息化|无人工厂",
    ),
    (
        "aerospace",
        "航空航天",
        "Aerospace",
        "intelligent_manufacturing",
        "航天|航空|商业航天|space|卫星|火箭|航空器零部件|飞机|航天技术|飞行模拟机",
    ),
    (
        "additive_manufacturing",
        "3D打印",
        "3D printing",
        "intelligent_manufacturing",
        "3D printing|增材制造|additive manufacturing|3D打印设备|3D打印技术|3D打印应用|3D打印服务|3D打印耗材",
    ),
    (
        "drones",
        "无人机",
        "Drones",
        "intelligent_manufacturing",
        "UAV|UAVs|drone|无人机系统|无人机生产|工业无人机|无人机周边服务|民用无人机|反无人机系统",
    ),
    # cyzone puts robots under 人工智能; for the plan they are manufacturing kit.
    (
        "robotics",
        "机器人",
        "Robotics",
        "intelligent_manufacturing",
        "robots|robot|智能机器人|工业机器人|服务机器人|医疗机器人|家用机器人|教育机器人|机器人零部件|"
        "军用机器人|聊天机器人|物流机器人|仓储机器人|娱乐机器人|机械臂|农业机器人",
    ),
    # Grouped with manufacturing, not 传统行业: materials start-ups sell into the same
    # supply chains the manufacturing investors cover.
    (
        "new_materials",
        "新材料",
        "New materials",
        "intelligent_manufacturing",
        "advanced materials|材料|materials|金属材料|高分子材料|非金属矿物制品业|复合材料|材料研发|"
        "节能环保材料|非金属材料|材料设备",
    ),
    (
        "investment_wealth",
        "投资理财",
        "Investment and wealth management",
        "finance",
        "理财|wealth management|财富管理|资产管理|asset management",
    ),
    (
        "payments",
        "支付",
        "Payments",
        "finance",
        "payment|第三方支付|跨境支付|支付技术服务|支付终端|智能pos机|收银系统|便民缴费|支付系统|"
        "预付卡|NFC支付|场景支付",
    ),
    (
        "lending",
        "贷款",
        "Lending",
        "finance",
        "借贷|lending|loans|消费金融|consumer finance|信贷|小额贷款|智能信贷",
    ),
    (
        "securities_funds",
        "证券/基金",
        "Securities and funds",
        "finance",
        "证券|基金|securities|funds|私募股权|证券咨询",
    ),
    ("insurance", "保险", "Insurance", "finance", "insurtech|保险科技"),
    (
        "fintech",
        "金融科技",
        "Fintech",
        "finance",
        "financial technology|AI金融|互联网金融|金融大数据|大数据风控|智能投顾|大数据征信|智能营销|"
        "大数据反欺诈|智能客服|智能保险|量化投资|智能投研|智能风控|电子钱包|精准保费厘定",
    ),
    (
        "games_esports",
        "游戏电竞",
        "Games and esports",
        "culture_entertainment",
        "游戏|电竞|games|gaming|esports|电子竞技|手游研发|页游研发|游戏支持服务|游戏发行|棋牌桌游|"
        "游戏分发渠道|主机游戏|端游研发|电竞直播|电竞俱乐部|游戏硬件设备|游戏虚拟商品|H5游戏研发|"
        "游戏平台|电竞赛事|二次元游戏|游戏视频|电竞培训|游戏周边|电竞大数据|PC游戏研发",
    ),
    (
        "media",
        "媒体",
        "Media",
        "culture_entertainment",
        "传媒|新闻|news|垂直媒体|资讯媒体|自媒体|新媒体|多媒体|门户网站|社交媒体|网络电视|电视媒体|"
        "户外媒体|综合媒体|游戏门户|媒体大数据",
    ),
    (
        "film_tv",
        "影视综艺",
        "Film and TV",
        "culture_entertainment",
        "影视|电影|film|movies|television|影视制作|影视发行|影视营销|电影院线|影视资讯|影视众筹|"
        "影视服务|影视策划|电影票务|影视大数据|影视后期",
    ),
    (
        "animation_acg",
        "动漫/二次元",
        "Animation and ACG",
        "culture_entertainment",
        "动漫|二次元|animation|anime|ACG|动漫制作|动漫IP|动漫阅读平台|二次元社区|二次元周边|"
        "二次元电商|动漫视频平台|虚拟偶像|漫展",
    ),
    (
        "online_video",
        "视频",
        "Online video",
        "culture_entertainment",
        "短视频|video|online video|short video|短视频聚合平台|短视频制作|视频技术|综合视频网站|"
        "垂直视频网站|视频播放器|视频拍摄|视频大数据",
    ),
    (
        "literature_publishing",
        "文学",
        "Literature and publishing",
        "culture_entertainment",
        "出版|publishing|阅读|网络文学|literature|数字版权|传统出版|阅读写作平台|阅读器|轻小说|"
        "有声阅读|阅读平台",
    ),
    (
        "music",
        "音乐",
        "Music",
        "culture_entertainment",
        "music industry|音乐平台|音乐制作|乐器|音乐播放器|电台|K歌应用|音乐版权|音乐社交|配音配乐|"
        "唱片公司|音乐节|音乐人孵化",
    ),
    (
        "sports",
        "体育",
        "Sports",
        "culture_entertainment",
        "sport|体育产业|运动|体育健身|大众休闲|专业体育|体育衍生|体育媒体|运动装备|体育培训|赛事运营|"
        "户外运动|体育营销|运动智能硬件|赛事博彩|减肥|健身房|职业俱乐部|健身APP|智力运动|赛事直播|"
        "私人教练|极限运动",
    ),
    (
        "k12_education",
        "K12教育",
        "K-12 education",
        "education",
        "K12|K-12|中小学教育|基础教育|课外辅导|steam教育|高考|题库|编程教育|家教|机器人教育",
    ),
    (
        "preschool_education",
        "学前教育",
        "Preschool education",
        "education",
        "早教|early education|幼教|early childhood education|亲子教育|幼儿园|智力开发|胎教",
    ),
    (
        "vocational_training",
        "职业培训",
        "Vocational training",
        "education",
        "职业教育|vocational education|职教|垂直行业培训|企业培训",
    ),
    (
        "language_learning",
        "语言学习",
        "Language learning",
        "education",
        "外语|language education|英语学习|汉语学习|外教|小语种学习",
    ),
    (
        "quality_education",
        "素质教育",
        "Enrichment education",
        "education",
        "quality education|enrichment|艺术培训",
    ),
    (
        "study_abroad",
        "留学教育",
        "Study abroad",
        "education",
        "留学|overseas study|留学中介|留学考试|其他留学服务|游学",
    ),
    (
        "higher_education",
        "高等教育",
        "Higher education",
        "education",
        "大学|university|就业指导|考研辅导|成人教育|大学教育",
    ),
    (
        "edtech",
        "教育信息化",
        "Education technology",
        "education",
        "EdTech|education technology|在线教育|online education|智慧教育|教育大数据",
    ),
    # cyzone's one-character second levels 食/衣/住/行 are only safe as aliases where
    # they are unambiguous, so only 食 is one (under food_beverage).
    (
        "consumer_brands",
        "消费",
        "Consumer goods and brands",
        "consumer_lifestyle",
        "消费品|consumer goods|consumer brands|新消费|快消|FMCG|消费品品牌|家装|奢侈品|定制服装|"
        "护理品牌|服装品牌|快消品品牌|其他品牌|设计师品牌|自行车|定制家居|滑板|宠物品牌|平衡车|"
        "时尚潮品",
    ),
    (
        "food_beverage",
        "食品饮料",
        "Food and beverage",
        "consumer_brands",
        "食|食品|food|beverages|food and beverage|餐饮品牌|食品品牌|酒饮品牌|生鲜品牌|咖啡茶饮品牌|"
        "餐饮店品牌",
    ),
    (
        "local_services",
        "生活服务",
        "Local services",
        "consumer_lifestyle",
        "本地生活|local services|O2O|consumer services|休闲娱乐|小区服务|物业管理|美业|租赁|配送|零售|"
        "其他生活服务|校园服务|居家服务|教育O2O|便利店|回收服务|共享经济|自助贩卖机|婚嫁服务|洗衣O2O|"
        "无人便利店|O2O平台|摄影服务|月嫂|KTV|维修服务|智慧小区|家装服务|洗衣/保养|家电维修|共享单车|"
        "零售O2O|跑腿代办|茶馆|宠物服务|游乐场|娃娃机|共享充电|定制化服务|陪护看护|聚会派对|家政保洁|"
        "数码产品租赁|医疗O2O|共享雨伞|搬家|共享汽车|移动设备维修|共享衣橱|共享厨房",
    ),
    (
        "catering",
        "餐饮",
        "Catering",
        "local_services",
        "restaurants|food service|外卖|餐饮支撑服务|美食外卖|生鲜/半成品配送",
    ),
    (
        "ecommerce",
        "电子商务",
        "E-commerce",
        "consumer_lifestyle",
        "电商|e-commerce|ecommerce|online retail|网购|生活消费|导购|B2C|社交电商|二手品交易/租赁|"
        "垂直B2C|奢侈品电商|票务|C2C|综合B2C|电商直播|食品B2C|衍生品|生活服务B2C|比价|化妆品B2C|"
        "礼品B2C|母婴B2C|家居B2C|服装B2C",
    ),
    (
        "b2b_ecommerce",
        "B2B",
        "B2B e-commerce",
        "ecommerce",
        "B2B电商|b2b e-commerce|产业互联网|垂直B2B|食品B2B|工业品B2B|农产品B2B|大宗贸易B2B|医疗B2B|"
        "旅游B2B|材料B2B|汽车B2B|综合B2B|服装B2B",
    ),
    (
        "cross_border_ecommerce",
        "跨境电商",
        "Cross-border e-commerce",
        "ecommerce",
        "cross-border ecommerce|跨境电子商务|买手（海淘代购）|进口电商",
    ),
    (
        "social_community",
        "社区社交",
        "Social and community",
        "consumer_lifestyle",
        "社交|社区|social|social network|social media|community|垂直人群社交|兴趣社交|综合社交平台|"
        "陌生人社交|图片社交|婚恋社交|视频社交|职场社交|校园社交|熟人社交|知识社区|点评社区|健身社交|"
        "LBS社交|医疗社区|母婴社区|二次元社交|语音社交|95后/00后社交|游戏社交|女性社区|体育社区|"
        "众筹社区|同性社交|宠物社交|其他社交平台|聚会社交|场景社交|女性社交|留学生社交|技能社交|"
        "中老年社交|情侣社交|男性社区",
    ),
    (
        "tourism",
        "旅游",
        "Tourism",
        "consumer_lifestyle",
        "旅行|travel|酒店旅游|hospitality|文旅|旅游资源运营商|旅游服务|酒店|其他旅游服务|旅游OTA|"
        "旅游OTA平台|境外游|其它旅游服务|景区运营|定制游|出行票务|旅游信息化|旅游社交|航空公司|旅行社|"
        "个性游|导游服务|旅游社区|酒店民宿预订|目的地旅游|自驾游|旅游保险|签证服务|旅游购物|旅游攻略|"
        "境内游",
    ),
    (
        "automotive_transport",
        "汽车交通",
        "Automotive and transport",
        "mobility_logistics",
        "汽车|automotive|transport|交通|auto|汽车后市场|出行用车|汽车租赁|汽车交易|其他汽车服务|"
        "汽车金融|二手车交易|养护维修|网约车|汽车保险|洗车服务|共享出行|加油服务|新车销售|"
        "自行车/电动车|驾考培训|巴士|代驾|汽车行业信息化|汽车改装|境外用车|车用商品|汽车抵押|汽车分期|"
        "汽车估价|充电桩|汽车贷款|汽车售后服务",
    ),
    (
        "auto_parts",
        "汽车配件",
        "Auto parts",
        "automotive_transport",
        "汽车零部件|auto components|automotive parts|车身附件",
    ),
    (
        "vehicle_manufacturing",
        "汽车制造",
        "Vehicle manufacturing",
        "automotive_transport",
        "整车|整车制造|car manufacturing|传统汽车",
    ),
    (
        "new_energy_vehicles",
        "新能源汽车",
        "New energy vehicles",
        "automotive_transport",
        "NEV|电动汽车|electric vehicles|EV|EVs|电动车",
    ),
    # Not a cyzone tag: it gathers 车联网/智能驾驶/车载… from the AI and automotive
    # branches because 智能网联汽车 is how Wuhan's 车谷 frames that industry.
    (
        "intelligent_connected_vehicles",
        "智能网联汽车",
        "Intelligent connected vehicles",
        "automotive_transport",
        "车联网|智能汽车|自动驾驶|智能驾驶|autonomous driving|connected cars|ICV|车载智能硬件|"
        "车载终端|AI汽车技术|车载系统|辅助系统|车联网大数据|AI交通|车联网平台|OBD|控制系统|车载WIFI|"
        "HUD|车载导航",
    ),
    (
        "logistics",
        "物流仓储",
        "Logistics and warehousing",
        "mobility_logistics",
        "物流|logistics|warehousing|供应链物流|物流运输|货运物流|智慧物流|物流信息化|仓储服务|"
        "跨境物流|同城配送|冷链物流|第三方物流|智能仓储|货运信息平台|垂直物流|物流收发|物流支持服务|"
        "快递收发|综合物流|整车物流|物流设备及设施|物流跟踪管理|即时物流|最后一公里|智能快递柜|AI物流|"
        "电商物流|物流saas|物流金融|物流平台|私人仓储",
    ),
    # 传统行业/能源 and 能源电力 overlap in cyzone; both land here.
    (
        "energy_power",
        "能源电力",
        "Energy and power",
        "energy_environment",
        "能源|电力|energy|power|传统能源|能源服务|能源发电|能源设备|电力供应|油气|能源技术|天然气|"
        "能源勘探|能源管理|热力供应|石油|能源贸易|能源工程",
    ),
    (
        "new_energy",
        "新能源",
        "New energy",
        "energy_power",
        "renewable energy|renewables|清洁能源|clean energy|太阳能|太阳能光伏|水能|节能技术|风能|"
        "生物质能|地热能|核能",
    ),
    (
        "batteries",
        "电池",
        "Batteries and energy storage",
        "energy_power",
        "储能|锂电池|动力电池|energy storage|battery|电池组",
    ),
    (
        "mineral_resources",
        "矿产资源",
        "Mineral resources and metals",
        "energy_power",
        "矿产|metals|mining and metals|金属制品|有色金属矿|煤炭|钢铁|稀土|非金属矿|黑色金属矿",
    ),
    (
        "environmental_protection",
        "环保",
        "Environmental protection",
        "energy_environment",
        "environmental protection|环境保护|environment|环保制造|环保工程|环保设备|环保相关服务|"
        "环保技术|环保材料|城市清洁|环保用品|环保SaaS|环境监测",
    ),
    (
        "pollution_control",
        "污染治理",
        "Pollution control",
        "environmental_protection",
        "pollution control|污染防治|环境治理|污水处理|固废处理|大气处理",
    ),
    (
        "manufacturing",
        "制造业",
        "Manufacturing",
        "traditional_industries",
        "传统制造|traditional manufacturing|制造|纺织业|轻工制造|印刷|包装|纸制品|造纸业",
    ),
    ("chemicals", "化学化工", "Chemicals", "manufacturing", "化工|chemical industry|chemicals"),
    (
        "construction",
        "建筑",
        "Construction",
        "traditional_industries",
        "建筑业|construction|工程建设|建筑材料|土木工程建筑|建筑装饰|园林绿化|规划设计|工程管理|"
        "建筑信息化|工程咨询|勘察测绘|招标采购",
    ),
    (
        "mining_oil",
        "石油矿采",
        "Oil, gas and mining",
        "traditional_industries",
        "采矿|mining|oil and gas|金属矿石开采|石油开采技术|开采机器设备|煤炭开采技术|其他能源开采技术|"
        "非金属矿石开采|勘探技术|其它能源开采技术",
    ),
    # 房产 shows up both alone and as 传统行业/房产家居; consumer 住 tags about
    # buying/renting homes join it too.
    (
        "real_estate",
        "房产",
        "Real estate",
        "traditional_industries",
        "房地产|real estate|property|房产家居|地产|房产开发|房产买卖|房产金融|品牌公寓|房产租赁|租房|"
        "装修服务|房产周边服务",
    ),
    (
        "textiles_apparel",
        "纺织",
        "Textiles and apparel",
        "traditional_industries",
        "纺织服装|textiles|apparel|服装|服装制造|皮革加工|纺织印染",
    ),
    (
        "agri_processing",
        "农业加工",
        "Agricultural processing",
        "agriculture",
        "农产品加工|agricultural processing|food processing",
    ),
    (
        "new_agriculture",
        "新农业",
        "Modern agriculture technology",
        "agriculture",
        "智慧农业|smart agriculture|农业科技|生产种植技术|有机农业|农业自动化|生态农业|农业无人机|农业遥感",
    ),
)


def _split_aliases(joined: str) -> tuple[str, ...]:
    return tuple(a for a in joined.split("|") if a)


_SNAKE_CASE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _build_industries() -> dict[str, Industry]:
    industries: dict[str, Industry] = {}
    for code, zh, en, parent, aliases in _INDUSTRY_ROWS:
        if not _SNAKE_CASE.fullmatch(code) or code in industries:
            raise RuntimeError(f"bad or duplicate industry code {code!r}")
        if parent is not None and parent not in industries:
            # Parents must come first; that also rules out cycles.
            raise RuntimeError(f"industry {code!r} lists parent {parent!r} before it exists")
        industries[code] = Industry(code, zh, en, parent, _split_aliases(aliases))
    return industries


INDUSTRIES: Final[Mapping[str, Industry]] = MappingProxyType(_build_industries())

_INDUSTRY_VOCAB: Final = _Vocabulary(
    "industry", ((i.code, (i.zh, i.en, *i.aliases)) for i in INDUSTRIES.values())
)


def _ancestors_of(code: str) -> tuple[str, ...]:
    chain = [code]
    parent = INDUSTRIES[code].parent
    while parent is not None:
        chain.append(parent)
        parent = INDUSTRIES[parent].parent
    return tuple(chain)


_ANCESTORS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {code: _ancestors_of(code) for code in INDUSTRIES}
)

# cyzone's "nothing here" marker: skipped outright, it must not even trigger a fallback.
CYZONE_PLACEHOLDER_TAGS: Final[frozenset[str]] = frozenset({"未透露", "未披露", "不明确"})

# Generic cyzone tags that mean different things under different parents (其他 sits
# under both 电子商务 and 文化娱乐, 金融服务 under 医疗健康, 住/行/衣 under 消费 mean
# housing/mobility/clothing). A global alias would mis-file half of them, so they stay
# unknown and `map_cyzone_industries` files them under the row's top-level tag instead.
CYZONE_AMBIGUOUS_TAGS: Final[frozenset[str]] = frozenset(
    {"其他", "其他服务", "金融服务", "解决方案", "住", "行", "衣"}
)

# Credit for one pair of industries in `industry_similarity`.
_EXACT_CREDIT: Final = 1.0
# One contains the other (信息技术 vs 区块链, 医疗健康 vs 医疗器械) or both sit under the
# same non-sector industry (医疗器械 vs 医疗机构): clearly the same line of business.
_SAME_INDUSTRY_CREDIT: Final = 0.5
# Only the sector is shared (区块链 vs 大数据): related investors, weak signal.
_SAME_SECTOR_CREDIT: Final = 0.25


def normalize_industry(value: str) -> str:
    """Code for any known spelling (code, zh, en case-insensitive, alias, cyzone tag).

    Raises UnknownTermError (with close matches) for anything else.
    """
    return _INDUSTRY_VOCAB.lookup(value)


def industry_ancestors(code: str) -> tuple[str, ...]:
    """The industry itself first, then its parent, ..., ending with its sector."""
    return _ANCESTORS[normalize_industry(code)]


def industry_sector(code: str) -> str:
    """The top-level sector code of an industry (a sector is its own sector)."""
    return industry_ancestors(code)[-1]


def _pair_credit(a: str, b: str) -> float:
    if a == b:
        return _EXACT_CREDIT
    chain_a, chain_b = _ANCESTORS[a], _ANCESTORS[b]
    if a in chain_b or b in chain_a:
        return _SAME_INDUSTRY_CREDIT
    if chain_a[-1] != chain_b[-1]:
        return 0.0
    # Same sector; any shared node below the sector means they share a real industry.
    if set(chain_a[:-1]) & set(chain_b[:-1]):
        return _SAME_INDUSTRY_CREDIT
    return _SAME_SECTOR_CREDIT


def industry_similarity(a: Iterable[str], b: Iterable[str]) -> float:
    """Hierarchy-aware overlap of two industry sets, in [0, 1] and symmetric.

    The score is the best credit over all pairs (x from a, y from b):

    * 1.0  - the same industry;
    * 0.5  - one contains the other, or both sit under the same non-sector industry;
    * 0.25 - only the top-level sector is shared;
    * 0.0  - different sectors, or either side is empty.

    The best pair rather than an average is used because the question the matcher asks is
    "does this investor cover this start-up's field"; an investor with a wide portfolio
    should not be penalised here for its other fields (breadth is scored elsewhere, if at
    all). Elements may be any spelling `normalize_industry` accepts.
    """
    return code_similarity(frozenset(map(normalize_industry, a)), frozenset(map(normalize_industry, b)))


@functools.lru_cache(maxsize=65_536)
def code_similarity(codes_a: frozenset[str], codes_b: frozenset[str]) -> float:
    """`industry_similarity` for sets of codes already normalised; cached, as rankers ask often."""
    if codes_a & codes_b:
        return _EXACT_CREDIT
    return max((_pair_credit(x, y) for x in codes_a for y in codes_b), default=0.0)


def _split_tags(tags: str | Sequence[str]) -> list[str]:
    raw = re.split(r"[,，]", tags) if isinstance(tags, str) else list(tags)
    return [t.strip() for t in raw if t and t.strip()]


def map_cyzone_industries(tags: str | Sequence[str]) -> list[str]:
    """Industry codes for one cyzone ``industries`` value (comma list or list of tags).

    Each known tag contributes its own (most specific) code. An unknown or ambiguous tag
    contributes the code of the row's top-level tag instead: that is the known tag with
    the shortest ancestor chain, not simply the first tag, because cyzone writes many
    rows leaf first. Placeholders such as 未透露 and unknown rows yield nothing; this
    function never raises on tag content. Codes are de-duplicated in first-seen order.
    """
    cleaned = [t for t in _split_tags(tags) if t not in CYZONE_PLACEHOLDER_TAGS]
    per_tag = [None if t in CYZONE_AMBIGUOUS_TAGS else _INDUSTRY_VOCAB.get(t) for t in cleaned]
    known = [c for c in per_tag if c is not None]
    top = min(known, key=lambda c: len(_ANCESTORS[c])) if known else None
    out: list[str] = []
    for code in per_tag:
        chosen = code if code is not None else top
        if chosen is not None and chosen not in out:
            out.append(chosen)
    return out


# Crunchbase 2013 category_code -> industry. Broad categories map to a sector or a
# level-1 industry rather than to a guessed niche.
_CRUNCHBASE_CATEGORIES: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "advertising": "marketing",
        "analytics": "big_data",
        "automotive": "automotive_transport",
        "biotech": "biotechnology",
        "cleantech": "energy_environment",  # spans clean energy and environment
        "consulting": "consulting_services",
        "design": "enterprise_services",  # design agencies/tools sold to businesses
        "ecommerce": "ecommerce",
        "education": "education",
        "enterprise": "enterprise_services",
        "fashion": "consumer_brands",
        "finance": "finance",
        "games_video": "culture_entertainment",  # games *and* video, so not games_esports
        "hardware": "hardware",
        "health": "healthcare",
        "hospitality": "tourism",
        "legal": "enterprise_services",  # cyzone files 法律服务 under enterprise services
        "local": "local_services",
        "manufacturing": "intelligent_manufacturing",
        "medical": "medical_devices",  # Crunchbase "medical" is device makers; care is "health"
        "messaging": "telecom",
        "mobile": "mobile_internet",
        "music": "music",
        "nanotech": "new_materials",
        "network_hosting": "cloud_services",
        "news": "media",
        "pets": "local_services",  # cyzone: 宠物服务 under 生活服务
        "photo_video": "culture_entertainment",
        "public_relations": "marketing",
        "real_estate": "real_estate",
        "search": "mobile_internet",
        "security": "enterprise_security",
        "semiconductor": "integrated_circuits",
        "social": "social_community",
        "software": "information_technology",  # says nothing about what the software does
        "sports": "sports",
        "transportation": "automotive_transport",
        "travel": "tourism",
        "web": "mobile_internet",
        # Unmappable: these describe a customer or legal form, not an industry.
        "government": None,
        "nonprofit": None,
        "other": None,
    }
)


def map_crunchbase_category(category_code: str) -> str | None:
    """Industry code for a Crunchbase 2013 ``category_code``.

    None for blank values and for government/nonprofit/other; UnknownTermError for a
    value that is not one of the 42 Crunchbase categories (a typo should not vanish).
    """
    value = category_code.strip().casefold()
    if not value:
        return None
    if value not in _CRUNCHBASE_CATEGORIES:
        suggestions = difflib.get_close_matches(value, _CRUNCHBASE_CATEGORIES, n=3)
        raise UnknownTermError("Crunchbase category", category_code, suggestions)
    return _CRUNCHBASE_CATEGORIES[value]


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A funding stage; ``order`` is the position on the venture ladder."""

    code: str
    zh: str
    en: str
    order: int


_STAGE_ROWS: Final[tuple[tuple[Stage, tuple[str, ...]], ...]] = (
    (Stage("idea", "创意阶段", "Idea", 0), ("想法阶段", "概念阶段", "idea stage", "concept")),
    (Stage("seed", "种子轮", "Seed", 1), ("种子", "seed round", "种子期")),
    (Stage("angel", "天使轮", "Angel", 2), ("天使", "angel round", "天使+轮", "天使+")),
    (Stage("pre_a", "Pre-A", "Pre-A", 3), ("Pre-A轮", "series pre-a", "pre a round")),
    (Stage("a", "A轮", "Series A", 4), ("A", "A round", "Series-A")),
    # Pre-B is raised between A+ and B, so it sits on the A+ rung.
    (Stage("a_plus", "A+轮", "Series A+", 5), ("A+", "Series-A+", "Pre-B", "Pre-B轮")),
    # B+ and Pre-C are still B-sized rounds; the ladder has no finer rung for them.
    (Stage("b", "B轮", "Series B", 6), ("B", "B round", "B+", "B+轮", "Pre-C", "Pre-C轮")),
    # Everything after B is one bucket: by C the company is a scale-up and the investor
    # pool (growth funds, corporates) barely changes between C, D, E ... or pre-IPO.
    (
        Stage("c_plus", "C轮及以后", "Series C and later", 7),
        _split_aliases(
            "C|C轮|C+|C+轮|Series C|Series C+|Series-C+|D|D轮|D+|D+轮|Series D|E|E轮|E+|"
            "E+轮|E轮及以后|Series E|F|F轮|F+|F+轮|Series F|Pre-D|Pre-E|Pre-F|Pre-IPO|growth|late stage"
        ),
    ),
    # Strategic investment is not a rung: corporates invest at any point. It gets the
    # highest order only so that sorting by order is stable; see stage_distance.
    (Stage("strategic", "战略投资", "Strategic", 8), ("战投", "战略融资", "strategic investment")),
)

STAGES: Final[Mapping[str, Stage]] = MappingProxyType({s.code: s for s, _ in _STAGE_ROWS})

_STAGE_VOCAB: Final = _Vocabulary("stage", ((s.code, (s.zh, s.en, *aliases)) for s, aliases in _STAGE_ROWS))

# How far "strategic" is from any ladder stage. It is "somewhere on the ladder, we do
# not know where": 2 rungs is far enough that a strategic-only history does not look
# like a perfect stage fit, and near enough that it is never ruled out either.
STRATEGIC_DISTANCE: Final = 2


def normalize_stage(value: str) -> str:
    """Stage code for a code, zh, en or alias (A轮, Series A, series-a, Pre-A轮, D轮 ...)."""
    return _STAGE_VOCAB.lookup(value)


@functools.lru_cache(maxsize=4096)
def stage_distance(a: str, b: str) -> int:
    """Rungs between two stages: ``abs(order_a - order_b)`` on the venture ladder.

    ``strategic`` is off the ladder: 0 from itself, `STRATEGIC_DISTANCE` from any other
    stage (its ``order`` is not used).
    """
    code_a, code_b = normalize_stage(a), normalize_stage(b)
    if code_a == code_b:
        return 0
    if "strategic" in (code_a, code_b):
        return STRATEGIC_DISTANCE
    return abs(STAGES[code_a].order - STAGES[code_b].order)


# cyzone series values that are not venture rounds of a start-up. They are public-market
# or secondary transactions (IPO, 新三板 listing/placement, 定增 by listed companies,
# 股权转让, 私有化), debt, M&A, or carry no stage information (众筹 is used for any size,
# 未披露/不明确 mean unknown).
_CYZONE_NON_VENTURE: Final[frozenset[str]] = frozenset(
    _key(s)
    for s in (
        "IPO",
        "上市（非IPO）",
        "并购",
        "新三板定增",
        "新三板挂牌",
        "上市公司定增",
        "股权转让",
        "债权融资",
        "私有化",
        "众筹",
        "未披露",
        "不明确",
    )
)


def map_cyzone_round(series: str) -> str | None:
    """Stage code for a cyzone ``series`` value, or None for non-venture rounds.

    种子轮->seed, 天使轮->angel, Pre-A->pre_a, A轮->a, A+轮/Pre-B->a_plus, B轮/B+轮/Pre-C->b,
    C轮 ... F+轮, Pre-D..Pre-F and Pre-IPO -> c_plus, 战略投资->strategic. None for blank
    and for the non-venture values listed in `_CYZONE_NON_VENTURE`. A value that is
    neither raises UnknownTermError, so new cyzone round names get noticed.
    """
    if not series.strip() or _key(series) in _CYZONE_NON_VENTURE:
        return None
    return normalize_stage(series)


_CRUNCHBASE_ROUNDS: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "angel": "angel",
        "seed": "seed",  # not in the 2013 snapshot, but later exports use it
        "series-a": "a",
        "series-b": "b",
        "series-c+": "c_plus",
        # "venture" is an undisclosed-series VC round: anything from A to late stage, so
        # guessing a rung would inject noise into stage-fit scores.
        "venture": None,
        "private-equity": None,  # buy-outs / growth equity of mature companies
        "post-ipo": None,
        "crowdfunding": None,
        "other": None,
    }
)


def map_crunchbase_round(round_type: str) -> str | None:
    """Stage code for a Crunchbase ``funding_round_type``; None where it has no rung.

    Values outside the Crunchbase list go through `normalize_stage` (so "series-d"
    works) and raise UnknownTermError if that fails too.
    """
    value = round_type.strip().casefold()
    if not value:
        return None
    if value in _CRUNCHBASE_ROUNDS:
        return _CRUNCHBASE_ROUNDS[value]
    return normalize_stage(round_type)


# ---------------------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A Wuhan district or development zone with a representative point."""

    code: str
    zh: str
    en: str
    kind: Literal["district", "zone"]
    lat: float
    lon: float
    district: str | None  # for a zone: the district it mainly lies in; None if several


ANYWHERE: Final = "anywhere"

# Points are the district seats / zone administrative cores (to ~0.01°), not geometric
# centroids: the outer districts are mostly farmland and lakes, and their geometric
# centre would sit kilometres away from where the companies actually are.
_AREA_ROWS: Final[tuple[tuple[Area, tuple[str, ...]], ...]] = (
    (
        Area("jiangan", "江岸区", "Jiang'an District", "district", 30.60, 114.31, None),
        ("江岸", "Jiang'an", "Jiangan"),
    ),
    (Area("jianghan", "江汉区", "Jianghan District", "district", 30.60, 114.27, None), ("江汉", "Jianghan")),
    # 桥口 is how most people type 硚 (a rare character missing from many IMEs).
    (
        Area("qiaokou", "硚口区", "Qiaokou District", "district", 30.58, 114.22, None),
        ("硚口", "桥口", "桥口区", "Qiaokou"),
    ),
    (Area("hanyang", "汉阳区", "Hanyang District", "district", 30.55, 114.22, None), ("汉阳", "Hanyang")),
    (Area("wuchang", "武昌区", "Wuchang District", "district", 30.55, 114.31, None), ("武昌", "Wuchang")),
    (Area("qingshan", "青山区", "Qingshan District", "district", 30.64, 114.39, None), ("青山", "Qingshan")),
    (Area("hongshan", "洪山区", "Hongshan District", "district", 30.50, 114.34, None), ("洪山", "Hongshan")),
    (
        Area("dongxihu", "东西湖区", "Dongxihu District", "district", 30.62, 114.14, None),
        ("东西湖", "Dongxihu"),
    ),
    (Area("hannan", "汉南区", "Hannan District", "district", 30.31, 114.08, None), ("汉南", "Hannan")),
    (Area("caidian", "蔡甸区", "Caidian District", "district", 30.58, 114.03, None), ("蔡甸", "Caidian")),
    (Area("jiangxia", "江夏区", "Jiangxia District", "district", 30.35, 114.32, None), ("江夏", "Jiangxia")),
    (Area("huangpi", "黄陂区", "Huangpi District", "district", 30.88, 114.38, None), ("黄陂", "Huangpi")),
    (Area("xinzhou", "新洲区", "Xinzhou District", "district", 30.84, 114.80, None), ("新洲", "Xinzhou")),
    # Most of the zone's streets were carved out of 洪山区 (a few from 江夏区), and users
    # who say 光谷 usually accept 洪山区 offices, so Hongshan is its district.
    (
        Area(
            "east_lake_hightech",
            "东湖新技术开发区",
            "East Lake High-tech Zone",
            "zone",
            30.50,
            114.41,
            "hongshan",
        ),
        (
            "光谷",
            "中国光谷",
            "武汉光谷",
            "东湖高新区",
            "东湖高新",
            "东湖开发区",
            "东湖新技术产业开发区",
            "Optics Valley",
            "Optics Valley of China",
            "East Lake High-tech Development Zone",
            "Wuhan East Lake High-tech Development Zone",
            "East Lake Hi-tech Zone",
        ),
    ),
    # The core (沌口) straddles old Hanyang/Caidian land and the zone also runs 汉南区,
    # so no single district.
    (
        Area(
            "wuhan_econ_tech",
            "武汉经济技术开发区",
            "Wuhan Economic & Technological Development Zone",
            "zone",
            30.50,
            114.16,
            None,
        ),
        (
            "沌口",
            "沌口开发区",
            "经开区",
            "武汉经开区",
            "武汉开发区",
            "车谷",
            "中国车谷",
            "WEDZ",
            "Wuhan Economic and Technological Development Zone",
            "Wuhan Economic Development Zone",
        ),
    ),
    # Same administration as 东西湖区 (the airport itself is in 黄陂, the zone is not).
    (
        Area(
            "airport_econ",
            "武汉临空港经济技术开发区",
            "Airport Economic Zone",
            "zone",
            30.64,
            114.16,
            "dongxihu",
        ),
        (
            "临空港",
            "临空港开发区",
            "临空港经开区",
            "临空港经济技术开发区",
            "Wuhan Airport Economic Zone",
            "Lingkonggang",
            "Wuhan Airport Economic and Technological Development Zone",
        ),
    ),
    # Spans 江岸 (谌家矶), 黄陂 (武湖) and 新洲 (阳逻).
    (
        Area("yangtze_new_area", "长江新区", "Yangtze River New Area", "zone", 30.72, 114.45, None),
        ("武汉长江新区", "长江新城", "Changjiang New Area", "Changjiang New District"),
    ),
)

AREAS: Final[Mapping[str, Area]] = MappingProxyType({a.code: a for a, _ in _AREA_ROWS})

_ANYWHERE_SPELLINGS: Final = (
    "any",
    "不限",
    "全市",
    "全武汉",
    "武汉",
    "武汉市",
    "Wuhan",
    "Wuhan City",
    "citywide",
    "all",
)

_AREA_VOCAB: Final = _Vocabulary(
    "area",
    [
        *((a.code, (a.zh, a.en, *aliases)) for a, aliases in _AREA_ROWS),
        (ANYWHERE, _ANYWHERE_SPELLINGS),
    ],
)

_EARTH_RADIUS_KM: Final = 6371.0088


def normalize_area(value: str) -> str:
    """Area code for a code, zh, en or alias (光谷, 沌口, 临空港 ...); `ANYWHERE` for
    anywhere/不限/全市/武汉. Raises UnknownTermError otherwise."""
    return _AREA_VOCAB.lookup(value)


@functools.lru_cache(maxsize=4096)
def distance_km(a: str, b: str) -> float:
    """Great-circle (haversine) distance between two areas' points, in km.

    Symmetric; 0.0 for the same area and whenever either side is `ANYWHERE` (no
    constraint means no distance penalty).
    """
    code_a, code_b = normalize_area(a), normalize_area(b)
    if code_a == code_b or ANYWHERE in (code_a, code_b):
        return 0.0
    p, q = AREAS[code_a], AREAS[code_b]
    phi1, phi2 = math.radians(p.lat), math.radians(q.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(q.lon - p.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
