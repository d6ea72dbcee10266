"""Enumerations of grid staff: posts, full- or part-time, grid levels, personnel filings."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from gridgov.domains.areas.enums import AreaLevel


class Post(StrEnum):
    """What a person does in a grid, a community or a street (岗位)."""

    grid_leader = "grid_leader"  # 网格长 (一级: the street's, 二级: the community's, 三级: a grid's)
    grid_worker = "grid_worker"  # 网格员 (专职 full-time or 兼职 part-time)
    community_police = "community_police"  # 社区民警 (下沉网格): counted with the police, not as a community worker
    grid_instructor = "grid_instructor"  # 网格指导员: a street cadre guiding a community or grid
    community_secretary = "community_secretary"  # 社区党组织书记
    community_director = "community_director"  # 居委会主任
    committee_member = "committee_member"  # 社区"两委"委员
    community_worker = "community_worker"  # 社区工作者 (专职)


class Employment(StrEnum):
    """Whether grid work is the person's job (专职) or done beside another one (兼职)."""

    full_time = "full_time"
    part_time = "part_time"


class GridLevel(IntEnum):
    """The three grid levels (三级网格): the street, the community, the grid."""

    street = 1  # 一级网格
    community = 2  # 二级网格
    grid = 3  # 三级网格

    @classmethod
    def of(cls, level: AreaLevel | str) -> GridLevel | None:
        """Returns the grid level of an area level (None for the district and buildings)."""
        return _GRID_LEVELS.get(AreaLevel(level))


_GRID_LEVELS = {
    AreaLevel.street: GridLevel.street,
    AreaLevel.community: GridLevel.community,
    AreaLevel.grid: GridLevel.grid,
}

# Where each post may be held.
POST_LEVELS: dict[Post, frozenset[GridLevel]] = {
    Post.grid_leader: frozenset(GridLevel),
    Post.grid_worker: frozenset({GridLevel.grid}),
    Post.community_police: frozenset({GridLevel.community, GridLevel.grid}),
    Post.grid_instructor: frozenset({GridLevel.community, GridLevel.grid}),
    Post.community_secretary: frozenset({GridLevel.community}),
    Post.community_director: frozenset({GridLevel.community}),
    Post.committee_member: frozenset({GridLevel.community}),
    Post.community_worker: frozenset({GridLevel.community}),
}

# NOTE: the staffing ratio counts community workers (社区工作者): the community's full-time staff and full-time grid
# workers. Police, street cadres and part-time grid workers (楼长, volunteers) have other employers or none.
COUNTED_POSTS = frozenset(
    {
        Post.grid_leader,
        Post.grid_worker,
        Post.community_secretary,
        Post.community_director,
        Post.committee_member,
        Post.community_worker,
    }
)
COUNTED_LEVELS = frozenset({GridLevel.community, GridLevel.grid})
# Changes of staff at these levels go through a personnel filing (人员变动报备); street-level posts do not.
FILED_LEVELS = frozenset({GridLevel.community, GridLevel.grid})


class FilingKind(StrEnum):
    """What a personnel filing (人员变动报备) changes."""

    onboard = "onboard"  # 新增/入职: a person takes a post
    leave = "leave"  # 离职/退出: a person leaves a post
    transfer = "transfer"  # 调动: a person moves to another grid or community
    change_post = "change_post"  # 岗位变更: a new post (or full-/part-time) in the same place


class FilingStatus(StrEnum):
    """Where a filing stands: waiting for a decision, approved (until its date), applied, or closed without effect."""

    requested = "requested"  # 待审批
    approved = "approved"  # 已批准, 待生效
    applied = "applied"  # 已生效
    refused = "refused"  # 未批准
    withdrawn = "withdrawn"  # 已撤回
    failed = "failed"  # 未能生效: on its date the register no longer allowed it (the history says why)


OPEN_FILING_STATUSES = frozenset({FilingStatus.requested, FilingStatus.approved})


class FilingAction(StrEnum):
    """One step in a filing's history."""

    requested = "requested"
    approved = "approved"
    refused = "refused"
    withdrawn = "withdrawn"
    applied = "applied"
    failed = "failed"


POST_LABELS_ZH = {
    Post.grid_leader: "网格长",
    Post.grid_worker: "网格员",
    Post.community_police: "社区民警",
    Post.grid_instructor: "网格指导员",
    Post.community_secretary: "社区书记",
    Post.community_director: "居委会主任",
    Post.committee_member: "社区两委委员",
    Post.community_worker: "社区工作者",
}
EMPLOYMENT_LABELS_ZH = {Employment.full_time: "专职", Employment.part_time: "兼职"}
GRID_LEVEL_LABELS_ZH = {GridLevel.street: "一级网格", GridLevel.community: "二级网格", GridLevel.grid: "三级网格"}
FILING_KIND_LABELS_ZH = {
    FilingKind.onboard: "新增",
    FilingKind.leave: "离岗",
    FilingKind.transfer: "调动",
    FilingKind.change_post: "岗位变更",
}
FILING_STATUS_LABELS_ZH = {
    FilingStatus.requested: "待审批",
    FilingStatus.approved: "已批准待生效",
    FilingStatus.applied: "已生效",
    FilingStatus.refused: "未批准",
    FilingStatus.withdrawn: "已撤回",
    FilingStatus.failed: "未能生效",
}
