//! The registration authority codes of GB 32100 (登记管理部门代码,
//! position 1 of a unified social credit code) and the entity types
//! (机构类别代码, position 2) each issues.
//!
//! A table only: parsing a code against it is [`super::Uscc::parse`]'s.

/// A registration authority code of GB 32100 and the entity types it issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationAuthority {
    /// The code (position 1, 登记管理部门代码).
    pub code: char,
    /// The authority's name, e.g. `工商`.
    pub name: &'static str,
    /// (entity type code at position 2 (机构类别代码), its name).
    pub entity_types: &'static [(char, &'static str)],
}

/// Registration authority codes (登记管理部门代码, position 1) and the
/// entity type codes (机构类别代码, position 2) each allows, per GB 32100-2015
/// with amendment No. 1 and the codes assigned since (A, N).
///
/// | 1 | authority | 2 allowed |
/// |---|---|---|
/// | 1 | 机构编制 establishment | 1 机关, 2 事业单位, 3 编办直管群众团体, 9 其他 |
/// | 2 | 外交 foreign affairs | 1 外国常驻新闻机构, 9 其他 |
/// | 3 | 司法行政 justice | 1 律师执业机构, 2 公证处, 3 基层法律服务所, 4 司法鉴定机构, 5 仲裁委员会, 9 其他 |
/// | 4 | 文化 culture | 1 外国在华文化中心, 9 其他 |
/// | 5 | 民政 civil affairs | 1 社会团体, 2 民办非企业单位, 3 基金会, 9 其他 |
/// | 6 | 旅游 tourism | 1 外国旅游部门常驻代表机构, 2 港澳台地区旅游部门常驻内地代表机构, 9 其他 |
/// | 7 | 宗教 religious affairs | 1 宗教活动场所, 2 宗教院校, 9 其他 |
/// | 8 | 工会 trade unions | 1 基层工会, 9 其他 |
/// | 9 | 工商 market regulation | 1 企业, 2 个体工商户, 3 农民专业合作社 |
/// | A | 中央军委改革和编制办公室 military | 1 军队事业单位, 9 其他 |
/// | N | 农业 agriculture | 1 组级集体经济组织, 2 村级集体经济组织, 3 乡镇级集体经济组织, 9 其他 |
/// | Y | 其他 other | 1 |
pub const REGISTRATION_AUTHORITIES: [RegistrationAuthority; 12] = [
    RegistrationAuthority {
        code: '1',
        name: "机构编制",
        entity_types: &[
            ('1', "机关"),
            ('2', "事业单位"),
            ('3', "中央编办直接管理机构编制的群众团体"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '2',
        name: "外交",
        entity_types: &[('1', "外国常驻新闻机构"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '3',
        name: "司法行政",
        entity_types: &[
            ('1', "律师执业机构"),
            ('2', "公证处"),
            ('3', "基层法律服务所"),
            ('4', "司法鉴定机构"),
            ('5', "仲裁委员会"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '4',
        name: "文化",
        entity_types: &[('1', "外国在华文化中心"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '5',
        name: "民政",
        entity_types: &[
            ('1', "社会团体"),
            ('2', "民办非企业单位"),
            ('3', "基金会"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '6',
        name: "旅游",
        entity_types: &[
            ('1', "外国旅游部门常驻代表机构"),
            ('2', "港澳台地区旅游部门常驻内地（大陆）代表机构"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '7',
        name: "宗教",
        entity_types: &[('1', "宗教活动场所"), ('2', "宗教院校"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '8',
        name: "工会",
        entity_types: &[('1', "基层工会"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '9',
        name: "工商",
        entity_types: &[('1', "企业"), ('2', "个体工商户"), ('3', "农民专业合作社")],
    },
    RegistrationAuthority {
        code: 'A',
        name: "中央军委改革和编制办公室",
        entity_types: &[('1', "军队事业单位"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: 'N',
        name: "农业",
        entity_types: &[
            ('1', "组级集体经济组织"),
            ('2', "村级集体经济组织"),
            ('3', "乡镇级集体经济组织"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: 'Y',
        name: "其他",
        entity_types: &[('1', "其他")],
    },
];
