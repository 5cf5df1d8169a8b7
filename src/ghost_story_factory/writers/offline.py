"""The embedded offline writer: deterministic, network-free story text assembled from templates and pools."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from .base import Reply, Request, Retry, Usage

NIGHT_MINUTES = 240  # 00:00 .. 04:00
_LIMITS = {"zh": (150, 400), "en": (80, 200)}  # narrative length: characters (zh) or words (en)


# --------------------------------------------------------------------------------------------------
# Places. Both languages list the same places in the same order; keywords match scene names of
# either language, so a scene written by another writer still finds its details.
# --------------------------------------------------------------------------------------------------


class _Place(NamedTuple):
    names: tuple[str, ...]
    objects: tuple[str, ...]
    details: tuple[str, ...]


_KEYWORDS: tuple[tuple[str, ...], ...] = (
    ("地铁", "站台", "车站", "subway", "metro", "station", "platform", "train"),
    ("医院", "病房", "住院", "hospital", "ward", "clinic"),
    ("剧院", "戏院", "后台", "舞台", "theatre", "theater", "stage", "opera"),
    ("学校", "校舍", "教室", "宿舍", "school", "classroom", "dormitory", "campus"),
    ("公寓", "弄堂", "筒子楼", "小区", "apartment", "tenement", "flat", "block"),
    ("饭店", "酒店", "旅馆", "宾馆", "hotel", "inn", "lobby"),
    ("工厂", "纺织厂", "车间", "仓库", "factory", "mill", "warehouse", "steelworks"),
    ("桥", "码头", "江边", "河", "bridge", "pier", "river", "dock"),
    ("祠堂", "庙", "寺", "temple", "shrine", "ancestral"),
)

_PLACES: dict[str, tuple[_Place, ...]] = {
    "zh": (
        _Place(
            ("废弃的地铁三号线站台", "{city}末班车老车站"),
            ("售票窗口", "停转的自动扶梯", "站台尽头的广告牌", "生锈的闸机", "漆黑的隧道口", "站长值班室"),
            (
                "日光灯管一明一暗，把站台切成一段一段的灰色。",
                "隧道深处吹来一阵潮湿的风，带着铁锈和旧报纸的味道。",
                "广告牌上的女人笑容早已褪色，眼睛却像刚画上去一样清晰。",
                "一台闸机的指示灯忽然变绿，好像有人刚刚刷卡通过。",
                "电子屏上滚动着一班早已停运的列车：终点站，无。",
            ),
        ),
        _Place(
            ("旧城区第三人民医院", "停用的住院部七楼"),
            ("护士站", "走廊尽头的空病床", "药品柜", "太平间的铁门", "病历架", "一辆生锈的轮椅"),
            (
                "走廊里的消毒水味浓得呛人，墙上的时钟停在三点十五分。",
                "护士站的呼叫铃亮着红灯，对应的是一间早已封死的病房。",
                "一辆轮椅缓缓滑过走廊，上面没有人。",
                "病房的窗帘被风鼓起，像有人站在后面。",
                "值班表上最后一个签名写于三十年前，墨迹却还没干。",
            ),
        ),
        _Place(
            ("老剧院的后台", "{city}大戏院"),
            ("化妆镜", "红丝绒幕布", "道具箱", "观众席第七排", "一件旧戏服", "提词箱"),
            (
                "舞台上的追光灯自己亮了，照着一块空荡荡的地板。",
                "化妆镜前的粉盒还开着，粉扑上留着半个唇印。",
                "观众席里传来稀稀落落的掌声，随即戛然而止。",
                "幕布后面有人在走台步，一步，一步，和锣鼓点一样准。",
                "墙上的海报写着一出戏的名字，演出日期是五十年前的今天。",
            ),
        ),
        _Place(
            ("夜色中的旧校舍", "封闭多年的女生宿舍楼"),
            ("黑板", "一排铁皮储物柜", "音乐教室的钢琴", "值日表", "楼梯转角的镜子", "广播室"),
            (
                "黑板上写着一道没人解完的算术题，粉笔灰还是新的。",
                "音乐教室里传出断断续续的钢琴声，弹的是一首童谣。",
                "走廊里的课桌排得整整齐齐，只有一张的椅子被拉了出来。",
                "广播喇叭里传出一阵电流声，接着开始点名，第一个名字就是{name}。",
                "楼梯一共十三级，可{name}数了两遍，都是十四级。",
            ),
        ),
        _Place(
            ("拆迁中的老公寓楼", "弄堂深处的筒子楼"),
            ("一排生锈的信箱", "楼道里的声控灯", "404室的门", "晾衣杆", "老式铁栅电梯", "门缝下的纸条"),
            (
                "声控灯随着脚步一盏盏亮起，又在身后一盏盏熄灭，总比脚步慢半拍。",
                "楼道里飘着炖肉的香味，可整栋楼早就没人住了。",
                "某户人家的电视还开着，雪花屏的沙沙声从门缝里漏出来。",
                "晾衣杆上挂着一件湿漉漉的红棉袄，还在往下滴水。",
                "每一扇门上都贴着拆迁通知，只有一扇还贴着褪色的福字。",
            ),
        ),
        _Place(
            ("江边歇业的老饭店", "民国年间的华侨旅馆"),
            ("前台的铜铃", "旋转门", "客房钥匙板", "餐厅里的留声机", "走廊的长地毯", "电梯的指针表盘"),
            (
                "旋转门自己转了半圈，带进一股夜里的冷风。",
                "留声机在空荡荡的餐厅里唱着一首老情歌。",
                "钥匙板上所有的钥匙都在，只少了一把：十三号房。",
                "走廊地毯上有一道拖痕，一直延伸到电梯门口。",
                "前台的登记簿摊开着，最后一行写着今晚的日期。",
            ),
        ),
        _Place(
            ("城郊的废弃纺织厂", "停工多年的钢厂车间"),
            ("一台老织布机", "考勤钟", "锅炉房的门", "传送带", "工人更衣室", "墙上褪色的标语"),
            (
                "一台织布机忽然咔嗒咔嗒地动了起来，梭子在空中来回穿行。",
                "考勤钟上插着一张卡，打卡时间是今天零点。",
                "锅炉房里透出暗红的光，可锅炉已经冷了几十年。",
                "墙上的标语写着“安全生产”，其中一个字被人用指甲抠掉了。",
                "更衣室的柜门一扇接一扇地打开，又一扇接一扇地关上。",
            ),
        ),
        _Place(
            ("雾中的老桥", "江边的旧码头"),
            ("桥栏杆", "渡轮售票亭", "系缆桩", "水面上的倒影", "一盏昏黄的路灯", "通往水边的石阶"),
            (
                "江雾漫上来，对岸的灯火一盏一盏被吞掉。",
                "水面上漂着一盏纸灯笼，逆着水流慢慢靠岸。",
                "售票亭的窗口里坐着一个人，低着头，一动不动。",
                "栏杆上系着许多褪色的红绳，在没有风的夜里轻轻摆动。",
                "{name}在水里的倒影抬起头来，比{name}慢了一拍。",
            ),
        ),
        _Place(
            ("山脚下的破旧祠堂", "香火断绝的老庙"),
            ("供桌上的牌位", "铜香炉", "褪色的壁画", "供桌", "一口铜钟", "门口的石狮"),
            (
                "香炉里插着三炷香，刚点上不久，青烟笔直地升向房梁。",
                "壁画上的人物原本都低着头，现在却有一个正看着门口。",
                "铜钟无风自鸣，嗡的一声，余音久久不散。",
                "供桌上摆着新鲜的供果，旁边是一双小小的布鞋。",
                "有一块牌位倒扣着，上面的名字被红漆涂掉了。",
            ),
        ),
    ),
    "en": (
        _Place(
            ("Abandoned Line 3 Platform", "{city} Last-Train Station"),
            (
                "the ticket window",
                "the stalled escalator",
                "the billboard at the end of the platform",
                "the rusted turnstiles",
                "the tunnel mouth",
                "the station master's booth",
            ),
            (
                "The fluorescent tubes flicker, cutting the platform into slices of grey.",
                "A damp wind breathes out of the tunnel, smelling of rust and old newspapers.",
                "The woman on the billboard has a faded smile, but her eyes look freshly painted.",
                "A turnstile light blinks green, as if someone has just passed through.",
                "The departure board scrolls a train that stopped running decades ago: destination, none.",
            ),
        ),
        _Place(
            ("Old Third People's Hospital", "Closed Seventh-Floor Ward"),
            (
                "the nurses' station",
                "the empty bed at the end of the corridor",
                "the medicine cabinet",
                "the iron door of the morgue",
                "the rack of patient files",
                "a rusted wheelchair",
            ),
            (
                "The corridor reeks of disinfectant, and the wall clock has stopped at a quarter past three.",
                "A call light glows red at the nurses' station, for a room that was bricked up long ago.",
                "An empty wheelchair rolls slowly down the corridor.",
                "A curtain in one of the wards billows out, as if someone is standing behind it.",
                "The last name on the duty roster was signed thirty years ago, and the ink is still wet.",
            ),
        ),
        _Place(
            ("Backstage at the Old Theatre", "{city} Grand Opera House"),
            (
                "the dressing mirror",
                "the red velvet curtain",
                "the prop chest",
                "row seven of the stalls",
                "an old stage costume",
                "the prompter's box",
            ),
            (
                "A spotlight switches itself on and lights an empty patch of stage.",
                "A powder box lies open before the dressing mirror, half a lip print on the puff.",
                "Scattered applause rises from the empty stalls and stops dead.",
                "Behind the curtain someone paces the stage, step by step, in time with a drum no one plays.",
                "A poster on the wall announces a play whose opening night was fifty years ago today.",
            ),
        ),
        _Place(
            ("Old School Building", "Sealed Girls' Dormitory"),
            (
                "the blackboard",
                "the row of tin lockers",
                "the piano in the music room",
                "the duty roster",
                "the mirror on the stair landing",
                "the broadcast room",
            ),
            (
                "An unfinished sum is chalked on the blackboard, the dust still fresh.",
                "A nursery rhyme drifts from the music room, played in halting notes on the piano.",
                "The desks in the corridor stand in perfect rows, except for one chair pulled out.",
                "The loudspeaker crackles and begins a roll call. The first name is {name}.",
                "The staircase has thirteen steps, but {name} counts fourteen, twice.",
            ),
        ),
        _Place(
            ("Condemned Apartment Block", "Back-Alley Tenement"),
            (
                "the row of rusted mailboxes",
                "the stair light",
                "the door of flat 404",
                "the laundry pole",
                "the old cage lift",
                "the note pushed under a door",
            ),
            (
                "The stair lights click on with each step and die behind, always half a beat late.",
                "The smell of stewing meat hangs in the stairwell, though nobody has lived here for years.",
                "A television hisses static behind one of the doors.",
                "A soaked red padded jacket hangs from a laundry pole, still dripping.",
                "Every door carries a demolition notice except one, which still wears a faded blessing.",
            ),
        ),
        _Place(
            ("Shuttered Riverside Hotel", "Old Overseas Chinese Inn"),
            (
                "the brass bell on the front desk",
                "the revolving door",
                "the key board",
                "the gramophone in the dining room",
                "the long corridor carpet",
                "the lift's dial indicator",
            ),
            (
                "The revolving door turns half a circle on its own and lets in a cold breath of night.",
                "A gramophone sings an old love song to the empty dining room.",
                "Every key hangs on the board except one: room thirteen.",
                "A drag mark runs along the corridor carpet all the way to the lift doors.",
                "The guest register lies open. The last line is dated tonight.",
            ),
        ),
        _Place(
            ("Abandoned Textile Mill", "Silent Steelworks Hall"),
            (
                "an old loom",
                "the time clock",
                "the boiler-room door",
                "the conveyor belt",
                "the workers' locker room",
                "the faded slogan on the wall",
            ),
            (
                "A loom clatters into life, its shuttle flying back and forth through empty air.",
                "A card sits in the time clock, punched in at midnight tonight.",
                "A dull red glow seeps from the boiler room, though the boilers have been cold for decades.",
                "The slogan on the wall reads SAFETY FIRST, but one letter has been scratched away.",
                "The locker doors swing open one after another, then close again in the same order.",
            ),
        ),
        _Place(
            ("Old Bridge in the Fog", "Disused River Pier"),
            (
                "the bridge railing",
                "the ferry ticket booth",
                "the mooring post",
                "the reflection on the water",
                "a dim yellow streetlamp",
                "the stone steps down to the water",
            ),
            (
                "River fog rolls in and swallows the lights on the far bank one by one.",
                "A paper lantern floats on the water, drifting to shore against the current.",
                "Someone sits in the ticket booth, head bowed, perfectly still.",
                "Faded red threads tied to the railing sway gently, though there is no wind.",
                "{name}'s reflection in the water looks up a moment after {name} does.",
            ),
        ),
        _Place(
            ("Crumbling Ancestral Hall", "Forgotten Hillside Temple"),
            (
                "the spirit tablets on the altar",
                "the bronze incense burner",
                "the faded mural",
                "the offering table",
                "the bronze bell",
                "the stone lions at the gate",
            ),
            (
                "Three sticks of incense burn in the censer, freshly lit, the smoke rising straight up.",
                "Every figure in the mural once had its head bowed. Now one of them is watching the door.",
                "The bronze bell tolls by itself, and the hum hangs in the air for a long time.",
                "Fresh fruit lies on the offering table beside a pair of tiny cloth shoes.",
                "One spirit tablet lies face down, its name painted over in red.",
            ),
        ),
    ),
}


# --------------------------------------------------------------------------------------------------
# Narrative pools.
# --------------------------------------------------------------------------------------------------

_FIRST_OPENINGS = {
    "zh": (
        "零点整，{city}的夜色彻底沉了下来。{name}来到{scene}门口，深吸了一口气。",
        "午夜十二点，{city}的最后一班公交早已开走。{name}独自站在{scene}前，手电是唯一的光。",
        "{city}的零点，街上一个人也没有。{name}推开{scene}那扇吱呀作响的门，走了进去。",
    ),
    "en": (
        "Midnight. The night has settled over {city}. {name} stops at the entrance of {scene} "
        "and takes a deep breath.",
        "It is twelve o'clock and the last bus in {city} is long gone. {name} stands alone before "
        "{scene}, the torch the only light.",
        "Midnight in {city}, and the streets are empty. {name} pushes open the creaking door of "
        "{scene} and steps inside.",
    ),
}

_OPENINGS = {
    "zh": (
        "{name}站在{scene}里。",
        "{scene}比想象中更安静。",
        "这里是{scene}。",
        "{time}的{scene}，空气像凝固了一样。",
        "{name}的脚步声在{scene}里显得格外响亮。",
        "{name}又往{scene}深处走了几步。",
    ),
    "en": (
        "{name} stands in {scene}.",
        "{scene} is quieter than {name} expected.",
        "This is {scene}.",
        "At {time}, the air in {scene} seems to have set solid.",
        "{name}'s footsteps sound far too loud in {scene}.",
        "{name} moves a few steps deeper into {scene}.",
    ),
}

_CALLBACKS = {
    "zh": (
        "「{choice}」——{name}已经做出了选择，没有回头路了。",
        "刚才的决定还在{name}心里打鼓：{choice}。",
        "{name}还在想刚才的选择——{choice}——也许那是个错误。",
        "自从决定「{choice}」，{name}就觉得有什么东西跟了上来。",
    ),
    "en": (
        'The last decision — "{choice}" — still echoes in {name}\'s head.',
        '"{choice}." {name} has made the choice, and there is no going back.',
        '{name} keeps thinking about that last choice — "{choice}" — and whether it was a mistake.',
        'Ever since deciding to "{choice}", {name} has felt something following close behind.',
    ),
}

_ROLE_LINES = {
    "zh": (
        "作为{role}，{name}见过不少怪事，可今晚不一样。",
        "{name}提醒自己：一个{role}，不该被几声怪响吓住。",
        "干了这么多年{role}，{name}头一回觉得这份工作不值得。",
        "{name}下意识地拿出{role}的架势，好让自己镇定一点。",
    ),
    "en": (
        "{name} has worked as {role_a} long enough to have seen strange things, but tonight is different.",
        "{name} repeats a silent reminder: {role_a} does not panic over a few odd noises.",
        "After all these years as {role_a}, {name} wonders for the first time whether the job is worth it.",
        "{name} falls back on old habits as {role_a}, and the breathing steadies a little.",
    ),
}

_SOUNDS = {
    "zh": (
        "头顶传来拖动椅子的声音，一下，又一下。",
        "远处有人在哼一首老歌，调子走得厉害。",
        "滴水声越来越近，像是在数着什么。",
        "有指甲轻轻刮过墙面的声音。",
        "身后传来一声很轻的叹息。",
        "一串脚步声停在了三步之外。",
        "一扇门被吹得吱呀作响，可这里并没有风。",
        "手机听筒里传出一阵沙沙声，像有人在另一头呼吸。",
    ),
    "en": (
        "Overhead, a chair scrapes across the floor, once, then again.",
        "Far away someone hums an old song, badly out of tune.",
        "Water drips somewhere, each drop a little closer, as if counting.",
        "Fingernails drag softly across a wall.",
        "A faint sigh comes from right behind {name}.",
        "A set of footsteps stops exactly three paces away.",
        "A door creaks in a wind that is not blowing.",
        "The phone speaker crackles, as if someone on the other end is breathing.",
    ),
}

_SMELLS = {
    "zh": (
        "空气里有股潮湿的霉味，混着淡淡的檀香。",
        "一阵烧纸的焦味飘过来，很快又散了。",
        "鼻尖闻到一股廉价香水味，像是上个世纪的。",
        "消毒水的气味浓得刺鼻。",
        "有股铁锈般的腥味，让人想起血。",
        "空气冷得发甜，像冬天的坟地。",
    ),
    "en": (
        "The air smells of damp and mildew, with a thread of sandalwood.",
        "A whiff of burning paper drifts past and is gone.",
        "There is a trace of cheap perfume, the kind nobody has worn in decades.",
        "The sting of disinfectant is almost unbearable.",
        "A metallic, rusty smell rises, the kind that makes you think of blood.",
        "The air is cold and strangely sweet, like a graveyard in winter.",
    ),
}

_TOUCHES = {
    "zh": (
        "后颈一凉，仿佛有人贴着皮肤吹了口气。",
        "{name}手心全是冷汗，指尖却冰得发麻。",
        "扶手上有一层薄薄的灰，灰上却有新鲜的手印。",
        "地面微微发黏，每走一步都像被什么拽住。",
        "一缕长发拂过手背，{name}猛地缩回了手。",
        "墙壁摸上去是温的，像有东西在里面呼吸。",
    ),
    "en": (
        "Something cold brushes the back of {name}'s neck, like a breath against the skin.",
        "{name}'s palms are slick with sweat, the fingertips numb with cold.",
        "The handrail is furred with dust, and in the dust is a fresh handprint.",
        "The floor is faintly sticky, and every step feels held back.",
        "A strand of long hair slides across the back of {name}'s hand.",
        "The wall is warm to the touch, as if something inside it is breathing.",
    ),
}

_SIGHTS = {
    "zh": (
        "墙上的影子比人多了一个。",
        "玻璃上浮现出一行用手指写下的字，很快就被雾气吞没。",
        "走廊尽头站着一个穿白衣的人影，一眨眼又不见了。",
        "手电光扫过的地方，灰尘里留着一串赤脚的脚印。",
        "天花板上的水渍像一张俯视的脸。",
        "一只红色的绣花鞋端端正正地摆在路中间。",
    ),
    "en": (
        "There is one shadow too many on the wall.",
        "Words written by a fingertip appear on the glass and fog over at once.",
        "A figure in white stands at the end of the corridor, and is gone in a blink.",
        "Where the torchlight sweeps, bare footprints lead through the dust.",
        "A water stain on the ceiling looks like a face peering down.",
        "A single red embroidered shoe sits neatly in the middle of the path.",
    ),
}

_SENSES = (_SOUNDS, _SMELLS, _TOUCHES, _SIGHTS)

_EVENTS = {
    "zh": (
        "灯突然全灭了。三秒之后重新亮起，{obj}的位置好像变了。",
        "{obj}那边传来轻轻的敲击声，三长两短，和传说里一模一样。",
        "手机自己亮了，相册里多出一张照片：{name}的背影，拍摄时间是一分钟前。",
        "有人在{obj}旁边低声哭泣，{name}一靠近，哭声就停了。",
        "对讲机里突然传出一个女人的声音：“你来晚了。”",
        "{obj}上凝出一层白霜，霜上慢慢显出两个字：别走。",
        "一阵急促的脚步声从{name}身边跑过，带起一阵冷风，却什么也看不见。",
        "手电照向{obj}，光圈里站着一个低着头的人，下一秒又空无一物。",
        "远处传来钟声，{name}数了数，一共十三下。",
        "有什么东西轻轻拉了一下{name}的衣角，像个怕黑的孩子。",
    ),
    "en": (
        "The lights die. Three seconds later they come back, and {obj} seems to have moved.",
        "A soft knocking comes from {obj}: three long, two short, exactly as the legend says.",
        "{name}'s phone lights up by itself. There is a new photo in the gallery: {name}, from behind, "
        "taken a minute ago.",
        "Someone is sobbing quietly near {obj}; the moment {name} comes closer, it stops.",
        "The walkie-talkie hisses, and a woman's voice says: \"You're late.\"",
        "Frost creeps over {obj}, and in the frost two words appear: DON'T GO.",
        "Hurried footsteps rush past {name} in a gust of cold air, but there is no one there.",
        "The torch finds {obj}, and in the beam stands someone with a bowed head; a blink later, nothing.",
        "A bell tolls somewhere far off. {name} counts thirteen strokes.",
        "Something tugs gently at {name}'s sleeve, like a child afraid of the dark.",
    ),
}

# Fear wording by PR band: <20, <40, <60, <80, >=80.
_FEAR = {
    "zh": (
        (
            "{name}的呼吸还算平稳，心里甚至有点好笑：也许一切只是老房子的毛病。",
            "此刻的{name}还保持着清醒，把这些异响归结于夜晚的错觉。",
            "{name}告诉自己，这不过是一个普通的夜晚。",
        ),
        (
            "一丝不安爬上{name}的脊背，手电的光圈开始微微发颤。",
            "{name}发现自己在不停地回头，每一次都什么也没有看到。",
            "{name}咽了口唾沫，心跳比平时快了半拍。",
        ),
        (
            "恐惧像潮水一样漫上来，{name}的腿有些发软。",
            "{name}开始听见自己的心跳，咚咚地撞在耳膜上。",
            "冷汗浸透了衬衫，{name}已经分不清哪些声音是真的。",
        ),
        (
            "{name}的牙齿在打颤，每一个阴影里似乎都藏着一双眼睛。",
            "理智在一根细线上摇晃，{name}几乎要尖叫出来。",
            "{name}死死咬住嘴唇，用疼痛让自己不要崩溃。",
        ),
        (
            "{name}的视野开始发黑，耳边的低语已经盖过了一切声音。",
            "恐惧攥住了{name}的心脏，再多一步，也许就再也回不来了。",
            "{name}分不清自己是在哭还是在笑，那个声音一直在叫{name}的名字。",
        ),
    ),
    "en": (
        (
            "{name} is still breathing evenly, half amused: surely it is just an old building settling.",
            "For now {name} stays clear-headed, putting the noises down to the night playing tricks.",
            "{name} insists that this is just an ordinary night.",
        ),
        (
            "A thread of unease creeps up {name}'s spine, and the torch beam starts to tremble.",
            "{name} keeps glancing back, and every time there is nothing there.",
            "{name} swallows hard; the heartbeat is half a step too fast.",
        ),
        (
            "Fear rises like a tide, and {name}'s knees begin to give.",
            "{name} can hear a heartbeat pounding in both ears.",
            "Cold sweat soaks through {name}'s shirt; which sounds are real is no longer clear.",
        ),
        (
            "{name}'s teeth are chattering; every shadow seems to hide a pair of eyes.",
            "Sanity sways on a thin thread, and {name} is close to screaming.",
            "{name} bites down hard on a lip, using the pain to hold together.",
        ),
        (
            "The edges of {name}'s vision go dark; the whispering drowns out everything else.",
            "Terror has a fist around {name}'s heart. One more step and there may be no coming back.",
            "{name} can no longer tell crying from laughing, and the voice keeps calling {name}'s name.",
        ),
    ),
}

# Truth wording by GR band: <20, <50, >=50.
_CLUES = {
    "zh": (
        (
            "这里到底发生过什么？{name}隐约觉得，答案就藏在{scene}的某个角落。",
            "{name}想起{city}流传的那个故事，却怎么也想不起它的结局。",
            "一切都还没有头绪，只有一种被注视的感觉越来越清楚。",
        ),
        (
            "线索慢慢拼凑起来：所有的怪事，都指向很多年前的同一个夜晚。",
            "{name}注意到，每一处异常都和一个名字有关，只是那名字被人刻意抹去了。",
            "那些零碎的线索开始连成一条线，一头拴着{scene}，另一头拴着一桩旧案。",
        ),
        (
            "真相已经近在咫尺：那个被困在{city}夜里的人，一直在等有人听完它的故事。",
            "{name}终于明白，这些不是恐吓，而是求救。",
            "只差最后一块拼图了。{name}几乎能说出当年那一夜发生的每一件事。",
        ),
    ),
    "en": (
        (
            "What happened here? {name} senses the answer is hidden somewhere in {scene}.",
            "{name} remembers the story people in {city} tell, but not how it ends.",
            "Nothing makes sense yet, except the growing feeling of being watched.",
        ),
        (
            "The pieces are coming together: every strange thing points to the same night, many years ago.",
            "{name} notices that every disturbance is tied to one name, a name someone tried hard to erase.",
            "The scattered clues begin to form a line, one end tied to {scene}, the other to an old case.",
        ),
        (
            "The truth is within reach: whoever is trapped in the {city} night has been waiting for someone "
            "to hear the whole story.",
            "{name} finally understands: these are not threats. They are cries for help.",
            "Only one piece is missing. {name} could almost tell what happened that night, step by step.",
        ),
    ),
}

_ITEM_LINES = {
    "zh": (
        "{item}还在{name}手里，这是此刻唯一能依靠的东西。",
        "{name}摸了摸口袋里的{item}，心里踏实了一点。",
        "{item}忽然变得冰凉，像是在提醒着什么。",
    ),
    "en": (
        "{name} still holds the {item}; right now it is the only thing to rely on.",
        "{name} touches the {item} in a pocket and feels a little steadier.",
        "The {item} turns suddenly cold, as if in warning.",
    ),
}

_TIME_LINES = {
    "zh": (
        "手机屏幕亮起：{time}。",
        "手表的指针停在{time}，秒针却在倒着走。",
        "现在是{time}，离天亮还有{left}。",
    ),
    "en": (
        "The phone screen reads {time}.",
        "{name}'s watch says {time}, but the second hand is running backwards.",
        "It is {time}; {left} until dawn.",
    ),
}

_HOOKS = {
    "zh": (
        "{name}必须做出决定。",
        "下一步该怎么走？",
        "时间不多了，{name}得赶快选择。",
        "黑暗中，有什么东西在等待{name}的回答。",
        "{name}深吸一口气，做出了决定。",
    ),
    "en": (
        "{name} has to decide.",
        "What now?",
        "Time is running short, and {name} must choose.",
        "Somewhere in the dark, something is waiting for {name}'s answer.",
        "{name} takes a deep breath and decides.",
    ),
}

_ITEMS = {
    "zh": (
        "手电筒",
        "旧日记",
        "护身符",
        "黄铜钥匙",
        "泛黄的照片",
        "红绳",
        "录音带",
        "火柴盒",
        "玉坠",
        "黄符",
    ),
    "en": (
        "flashlight",
        "old diary",
        "amulet",
        "brass key",
        "faded photograph",
        "red thread",
        "cassette tape",
        "box of matches",
        "jade pendant",
        "paper talisman",
    ),
}

_ITEM_SUFFIX = {"zh": "，顺手捡起地上的{item}", "en": ", picking up the {item} on the floor"}

# How a choice is taken, sometimes put before its text (the English text's first letter is lowered).
_RESOLVE = {
    "zh": ("鼓起勇气，", "咬咬牙，", "定了定神，", "不再犹豫，", "深吸一口气，", "压住心跳，"),
    "en": (
        "Steel yourself and ",
        "Grit your teeth and ",
        "Take a breath and ",
        "Without hesitating, ",
        "Trusting your gut, ",
        "Heart pounding, ",
    ),
}


class _Flag(NamedTuple):
    """A story flag: the choice texts that set it and the narrative lines that remember it."""

    choices: dict[str, tuple[str, ...]]
    callbacks: dict[str, str]


_FLAGS: dict[str, _Flag] = {
    "saw_shadow": _Flag(
        {
            "zh": ("盯着墙上那道多出来的影子", "追着那道一闪而过的影子看过去"),
            "en": ("Stare at the extra shadow on the wall", "Follow the shadow that flits past"),
        },
        {
            "zh": "那道多出来的影子又在视野边缘晃了一下。",
            "en": "The extra shadow flickers again at the edge of {name}'s vision.",
        },
    ),
    "heard_whisper": _Flag(
        {
            "zh": ("把耳朵贴近{obj}，听清那句低语",),
            "en": ("Press an ear close to {obj} and make out the whisper",),
        },
        {
            "zh": "那个低语声还在耳边，这次它说的是{name}的名字。",
            "en": "The whisper is back, and this time it is saying {name}'s name.",
        },
    ),
    "heard_footsteps": _Flag(
        {
            "zh": ("停下脚步，听清身后的脚步声", "故意放慢脚步，试探身后的东西"),
            "en": ("Stop and listen to the footsteps behind", "Slow down on purpose to test what follows"),
        },
        {
            "zh": "身后的脚步声一直没有停，始终隔着三步。",
            "en": "The footsteps behind never stop, always three paces back.",
        },
    ),
    "read_diary": _Flag(
        {
            "zh": ("翻开{obj}旁那本发黄的日记",),
            "en": ("Open the yellowed diary lying by {obj}",),
        },
        {
            "zh": "日记里的那句话在{name}脑子里打转：“它只是想回家。”",
            "en": 'A line from the diary keeps turning in {name}\'s head: "It only wants to go home."',
        },
    ),
    "found_photo": _Flag(
        {
            "zh": ("抽出夹在{obj}缝里的旧照片",),
            "en": ("Pull out the old photo wedged behind {obj}",),
        },
        {
            "zh": "照片上那张模糊的脸，{name}越想越觉得眼熟。",
            "en": "The blurred face in the photograph seems more familiar every time {name} thinks of it.",
        },
    ),
    "touched_mirror": _Flag(
        {
            "zh": ("把手按在蒙着灰的镜面上",),
            "en": ("Press a hand against the dusty mirror",),
        },
        {
            "zh": "自从碰过那面镜子，{name}的指尖就一直冰凉。",
            "en": "Ever since touching the mirror, {name}'s fingertips have been ice-cold.",
        },
    ),
    "called_its_name": _Flag(
        {
            "zh": ("叫出那个被抹去的名字",),
            "en": ("Say the erased name out loud",),
        },
        {
            "zh": "叫出那个名字之后，四周安静得可怕，像是有什么在认真地听。",
            "en": "Since {name} spoke that name aloud, the silence has felt like someone listening.",
        },
    ),
    "opened_sealed_door": _Flag(
        {
            "zh": ("撕开封条，推开那扇被封死的门",),
            "en": ("Tear off the seal and push open the sealed door",),
        },
        {
            "zh": "被打开的那扇门再也关不上了，门后的黑暗一直在往外渗。",
            "en": "The sealed door will not close again; the darkness behind it keeps seeping out.",
        },
    ),
    "lit_incense": _Flag(
        {
            "zh": ("点上一炷香，低声说句对不起",),
            "en": ("Light a stick of incense and whisper an apology",),
        },
        {
            "zh": "那炷香的味道一直跟着{name}，让人莫名安心。",
            "en": "The scent of the incense still clings to {name}, strangely comforting.",
        },
    ),
    "followed_the_note": _Flag(
        {
            "zh": ("照着纸条上的字，去{scene}",),
            "en": ("Do what the note says and go to {scene}",),
        },
        {
            "zh": "纸条上的字迹在{name}的脑海里反复浮现。",
            "en": "The handwriting on the note keeps surfacing in {name}'s mind.",
        },
    ),
}


# --------------------------------------------------------------------------------------------------
# Choices: each archetype has the ranges of its consequences and its texts.
# --------------------------------------------------------------------------------------------------


class _Archetype(NamedTuple):
    """A kind of choice: how often it is offered and the ranges its consequences are drawn from."""

    name: str
    weight: int  # percent of choices
    pr: tuple[int, int]
    gr: tuple[int, int]
    wf: tuple[int, int]
    minutes: tuple[int, int]
    flags: tuple[str, ...]  # flags a choice of this kind may set


# Fear mostly rises (about +5 a choice on average), calming choices lower it a little: along a
# typical path PR reaches 100 somewhere around depth 15-20. Twenty choices take about 200 minutes.
_ARCHETYPES = (
    _Archetype("investigate", 22, (3, 9), (2, 8), (0, 3), (8, 15), ("read_diary", "found_photo")),
    _Archetype(
        "listen", 18, (2, 8), (0, 4), (2, 8), (5, 10), ("heard_whisper", "heard_footsteps", "saw_shadow")
    ),
    _Archetype("advance", 17, (6, 12), (0, 4), (0, 4), (5, 12), ("opened_sealed_door", "saw_shadow")),
    _Archetype("confront", 8, (7, 12), (3, 9), (0, 2), (5, 10), ("touched_mirror", "called_its_name")),
    _Archetype("calm", 15, (-5, -1), (0, 2), (2, 8), (8, 15), ("lit_incense",)),
    _Archetype("move", 20, (2, 8), (0, 3), (0, 3), (10, 15), ("followed_the_note",)),
)

_CHOICE_TEXTS = {
    "investigate": {
        "zh": (
            "走近{obj}仔细查看",
            "在{obj}附近翻找有没有留下什么",
            "用手机拍下{obj}，放大看看细节",
            "蹲下来检查{obj}下面的地面",
            "擦掉{obj}上的灰尘",
            "打着手电把{obj}里里外外照一遍",
            "在{obj}上寻找当年留下的记号",
            "顺着{obj}周围的划痕一路看下去",
        ),
        "en": (
            "Walk up to {obj} and take a close look",
            "Search around {obj} for anything left behind",
            "Photograph {obj} and zoom in on the details",
            "Crouch down and check the floor beneath {obj}",
            "Wipe the dust off {obj}",
            "Shine the torch over every inch of {obj}",
            "Look for old marks carved into {obj}",
            "Trace the scratches around {obj}",
        ),
    },
    "listen": {
        "zh": (
            "屏住呼吸，听清那个声音从哪里来",
            "躲在{obj}后面观察动静",
            "关掉手电，在黑暗里静静等待",
            "顺着低语声慢慢靠近{obj}",
            "记下周围的每一个细节",
            "数着脚步声判断它的位置",
            "躲进暗处，盯住{obj}",
            "贴着墙，听{obj}那边的动静",
        ),
        "en": (
            "Hold your breath and find where the sound is coming from",
            "Hide behind {obj} and watch",
            "Switch off the torch and wait in the dark",
            "Creep toward the whispering near {obj}",
            "Take note of every detail around you",
            "Count the footsteps to work out where it is",
            "Slip into the shadows and keep an eye on {obj}",
            "Press against the wall and listen toward {obj}",
        ),
    },
    "advance": {
        "zh": (
            "继续往深处走",
            "推开通往{obj}的那扇门",
            "沿着墙边摸向{obj}",
            "跟上那个一闪而过的人影",
            "爬上楼梯去看看",
            "穿过黑暗，直奔{obj}",
            "绕过{obj}，往更暗的地方走",
            "顺着地上的脚印走向{obj}",
        ),
        "en": (
            "Keep going deeper",
            "Push open the door that leads to {obj}",
            "Edge along the wall toward {obj}",
            "Go after the figure that just slipped past",
            "Climb the stairs and look around",
            "Cross the dark straight to {obj}",
            "Slip past {obj} toward the darker part",
            "Follow the footprints toward {obj}",
        ),
    },
    "confront": {
        "zh": (
            "大声喊：“谁在那里？”",
            "直视{obj}里的那张脸",
            "伸手去碰{obj}",
            "对着空气说：“我知道你在这里。”",
            "站在原地，不再逃避",
            "问黑暗里的东西到底想要什么",
            "盯着{obj}，问它想要什么",
            "对着{obj}喊出自己的名字",
        ),
        "en": (
            'Shout: "Who\'s there?"',
            "Look straight at the face in {obj}",
            "Reach out and touch {obj}",
            'Say to the empty air: "I know you\'re here."',
            "Stand your ground and stop running",
            "Ask the darkness what it wants",
            "Stare at {obj} and ask what it wants",
            "Call your own name toward {obj}",
        ),
    },
    "calm": {
        "zh": (
            "退到亮处，让自己冷静下来",
            "给朋友打个电话，听听活人的声音",
            "默念几遍家人的名字，稳住心神",
            "靠着墙坐下，调整呼吸",
            "点一支烟，假装一切正常",
            "把手电调到最亮，驱散黑暗",
            "离{obj}远一点，先让心跳慢下来",
            "闭上眼睛，慢慢数到十",
        ),
        "en": (
            "Back off into the light and calm down",
            "Call a friend just to hear a living voice",
            "Repeat your family's names under your breath",
            "Sit down against the wall and steady your breathing",
            "Light a cigarette and pretend everything is normal",
            "Turn the torch to full brightness and push back the dark",
            "Step away from {obj} and let your heartbeat slow",
            "Close your eyes and count slowly to ten",
        ),
    },
    "move": {
        "zh": (
            "离开这里，前往{scene}",
            "顺着线索赶去{scene}",
            "转身逃往{scene}",
            "抄近路去{scene}看看",
            "去{scene}找找答案",
            "趁着灯还亮着，赶去{scene}",
            "不管不顾地冲向{scene}",
        ),
        "en": (
            "Leave and head for {scene}",
            "Follow the clue to {scene}",
            "Turn and run for {scene}",
            "Take the shortcut to {scene}",
            "Go and look for answers at {scene}",
            "While the lights still work, hurry to {scene}",
            "Make a dash for {scene}",
        ),
    },
}
_FALLBACK = _ARCHETYPES[0]  # investigate: always possible
_FLAG_CHANCE = 0.15
_ITEM_CHANCE = 0.10
_RESOLVE_CHANCE = 0.3
_FEWER_CHOICES_CHANCE = 0.15
_WRITER_ENDING_CHANCE = 0.06
_CALM_OFFER_FEAR = 55
_CALM_OFFER_CHANCE = 0.6


# --------------------------------------------------------------------------------------------------
# Endings.
# --------------------------------------------------------------------------------------------------

_ENDING_TITLES = {
    "zh": {
        "fear_collapse": ("崩溃", "无人听见的尖叫", "黑暗吞没了一切"),
        "truth_revealed": ("真相大白", "被记住的名字", "最后一块拼图"),
        "possessed": ("附身", "镜中人", "借来的眼睛"),
        "escape": ("逃出生天", "不要回头", "最后一扇门"),
        "dawn": ("黎明", "熬过长夜", "天亮以后"),
        "trapped": ("无尽之夜", "困在原地", "永远的零点"),
        "sacrifice": ("牺牲", "守夜人", "留下来的人"),
    },
    "en": {
        "fear_collapse": ("Breaking Point", "The Scream No One Heard", "Swallowed by the Dark"),
        "truth_revealed": ("The Truth Revealed", "A Name Remembered", "The Last Piece"),
        "possessed": ("Possessed", "The One in the Mirror", "Borrowed Eyes"),
        "escape": ("Escape", "Don't Look Back", "The Last Door"),
        "dawn": ("Dawn", "Through the Night", "After Daybreak"),
        "trapped": ("Endless Night", "Trapped", "Forever Midnight"),
        "sacrifice": ("Sacrifice", "The Night Watch", "The One Who Stayed"),
    },
}

_ENDING_TEXTS = {
    "zh": {
        "fear_collapse": (
            "{name}再也撑不住了。尖叫声在{scene}里回荡，却没有任何人听见。等到天亮，人们只在原地找到"
            "一部还亮着的手机，屏幕上是一张{name}的背影照片。",
            "所有的声音同时涌进{name}的脑海，那些低语、脚步、哭声，全都在叫同一个名字。{name}捂住耳朵"
            "跪倒在地，意识像断电的灯一样熄灭了。",
            "恐惧终于吞没了一切。{name}最后看到的，是黑暗中慢慢靠近的一张苍白的脸，和一个温柔得可怕的微笑。",
        ),
        "truth_revealed": (
            "最后一块拼图落下。{name}终于知道了那一夜在{scene}发生了什么，也知道了它为什么一直不肯离开。"
            "{name}轻声把那个名字念了出来，空气里的寒意像退潮一样散去。",
            "真相比任何鬼故事都要悲伤。{name}把找到的一切摆在一起，对着黑暗说：“我知道了，你可以走了。”"
            "一阵风吹过，像一声长长的叹息。",
            "当{name}说出真相的那一刻，{scene}里所有的灯同时亮起。没有尖叫，没有鬼影，只有一个终于被人"
            "记住的名字。",
        ),
        "possessed": (
            "{name}笑了起来，可那不是{name}的笑声。镜子里的人动作慢了半拍，然后朝这边眨了眨眼。从今夜起，"
            "{scene}又多了一位永远的住客。",
            "寒意从指尖一路爬到心口。{name}想开口呼救，说出口的却是一段陌生的唱词。天亮时，有人在{city}"
            "街头看见{name}，穿着一件不属于这个年代的衣服。",
            "{name}不再害怕了，因为害怕的那个人已经不在了。有什么东西借着{name}的眼睛，第一次看见了"
            "{city}的夜景。",
        ),
        "escape": (
            "{name}凭着对这里的熟悉，找到了那条没人知道的小路。推开最后一扇门时，{city}的街灯就在眼前，"
            "身后的黑暗发出一声不甘的低吼。",
            "{name}没有回头，一口气冲出了{scene}。凌晨的冷风灌进肺里，生疼，却是活着的感觉。",
            "记住的每一个转角都派上了用场。{name}在最后一刻挤出了门缝，门在身后重重关上，里面传来长长的"
            "指甲刮擦声。",
        ),
        "dawn": (
            "东方终于泛白。第一缕晨光照进{scene}的时候，所有的声音都停了，仿佛这一夜什么也没有发生。"
            "{name}瘫坐在地上，听见远处传来{city}早班车的铃声。",
            "四点整，鸡鸣声从很远的地方传来，那些影子像退潮一样缩回了墙角。{name}活了下来，只是再也不敢"
            "在夜里经过{scene}。",
            "天亮了。{name}走出{scene}，看见清洁工正在扫街，早点摊冒着热气。昨夜的一切像一场梦，除了口袋"
            "里那张不知从哪来的旧车票。",
        ),
        "trapped": (
            "{name}回到了起点。又一次。墙上的钟依然指着零点，{scene}的门在身后无声地合上。这一夜，似乎"
            "永远不会结束。",
            "每一条路都通向同一条走廊，每一扇门后都是同一个房间。{name}终于明白，自己成了{scene}故事里的"
            "新角色。",
            "出口消失了。{name}拍打着墙壁，回应的只有自己的回声，还有一个孩子般的声音：“陪我玩吧，永远。”",
        ),
        "sacrifice": (
            "{name}做出了决定：总得有人留下来。{name}把自己的名字写在那本登记簿上，换来被困多年的魂魄一个"
            "离开的机会。天亮时，{scene}空无一人。",
            "为了让它安息，{name}走进了那片黑暗。门关上之前，{name}回头看了一眼{city}的灯火，笑了笑。",
            "代价是一个人的余生。{name}接过了那份守夜的职责，从此每一个午夜，{scene}都会亮起一盏小小的灯。",
        ),
    },
    "en": {
        "fear_collapse": (
            "{name} cannot hold on any longer. The scream echoes through {scene}, and no one hears it. "
            "At dawn they find only a phone, still lit, showing a photo of {name} taken from behind.",
            "Every sound floods in at once: the whispers, the footsteps, the sobbing, all calling the same "
            "name. {name} drops to the floor, hands over ears, and the mind goes out like a light.",
            "Fear swallows everything. The last thing {name} sees is a pale face drifting closer through "
            "the dark, wearing a smile that is terribly gentle.",
        ),
        "truth_revealed": (
            "The last piece falls into place. {name} finally knows what happened in {scene} that night, "
            "and why it never left. {name} speaks the name softly, and the cold drains from the air like "
            "a receding tide.",
            "The truth is sadder than any ghost story. {name} lays everything out and says to the dark: "
            '"I know now. You can go." A breeze passes, like a long sigh.',
            "The moment {name} speaks the truth, every light in {scene} comes on at once. No scream, no "
            "shadow, only a name that is finally remembered.",
        ),
        "possessed": (
            "{name} starts to laugh, but it is not {name}'s laugh. The figure in the mirror moves a beat "
            "late, then winks. From tonight, {scene} has one more permanent resident.",
            "The cold climbs from the fingertips to the heart. {name} tries to call for help, but the words "
            "that come out are a stranger's song. At dawn someone in {city} sees {name} in the street, "
            "wearing clothes from another era.",
            "{name} is not afraid any more, because the one who was afraid is gone. Something looks out "
            "through {name}'s eyes and sees the lights of {city} for the first time.",
        ),
        "escape": (
            "Knowing the place by now, {name} finds the little passage no one else knows. Beyond the last "
            "door the streetlights of {city} are waiting, and behind, the darkness growls in frustration.",
            "{name} does not look back and runs straight out of {scene}. The cold night air burns in the "
            "lungs, and it feels like being alive.",
            "Every corner memorised pays off. {name} squeezes through the gap at the last moment; the door "
            "slams shut behind, and from inside comes the long scrape of fingernails.",
        ),
        "dawn": (
            "The east finally pales. As the first light reaches {scene}, every sound stops, as though "
            "nothing happened tonight. {name} slumps to the floor and hears the first bus of the morning "
            "somewhere in {city}.",
            "At four o'clock a rooster crows far away, and the shadows shrink back into the corners like "
            "a receding tide. {name} survives, but will never again walk past {scene} at night.",
            "It is morning. {name} walks out of {scene} to find street sweepers at work and breakfast "
            "stalls steaming. Last night feels like a dream, except for the old ticket in {name}'s pocket "
            "that came from nowhere.",
        ),
        "trapped": (
            "{name} is back at the start. Again. The clock on the wall still reads midnight, and the door "
            "of {scene} closes silently behind. This night may never end.",
            "Every path leads to the same corridor, every door to the same room. {name} finally "
            "understands: there is a new character in the story of {scene}, and it is {name}.",
            "The exit is gone. {name} pounds on the walls, and the only answer is an echo, and a childlike "
            'voice: "Stay and play with me. Forever."',
        ),
        "sacrifice": (
            "{name} makes the choice: someone has to stay. {name} signs the old register, buying a soul "
            "trapped for decades its chance to leave. At dawn, {scene} is empty.",
            "To let it rest, {name} walks into the dark. Before the door closes, {name} looks back once at "
            "the lights of {city}, and smiles.",
            "The price is a lifetime. {name} takes over the night watch, and every midnight since, a small "
            "light burns in {scene}.",
        ),
    },
}

_STATE_ENDINGS = ("trapped", "sacrifice", "dawn")
_Pool = dict[str, tuple[str, ...]] | tuple[str, ...]  # a pool per language, or one already chosen


# --------------------------------------------------------------------------------------------------
# Documents and characters.
# --------------------------------------------------------------------------------------------------

_TITLES = {
    "zh": ("{city}午夜回声", "{city}零点档案", "{city}不眠夜", "四点之前的{city}", "{city}夜话"),
    "en": (
        "{city} After Midnight",
        "The {city} Night Files",
        "Echoes of {city}",
        "Before Four in {city}",
        "The Sleepless Night of {city}",
    ),
}

# (what happened, who it is in short)
_GHOSTS = {
    "zh": (
        ("一位年轻的女演员在首演前夜失踪", "那位女演员"),
        ("一名夜班护士没能从那场大火里逃出来", "那名护士"),
        ("一群修路工人被困在了塌方的隧道里", "那些工人"),
        ("一个小女孩在放学后再也没有回家", "那个小女孩"),
        ("一位老门房带着一个秘密死在了值班室", "那位老门房"),
        ("一个新娘在婚礼当晚消失得无影无踪", "那个新娘"),
    ),
    "en": (
        ("a young actress vanished the night before her premiere", "the actress"),
        ("a night-shift nurse never made it out of the fire", "the nurse"),
        ("a crew of road workers was buried when the tunnel collapsed", "the workers"),
        ("a little girl never came home from school", "the girl"),
        ("an old doorkeeper died at his post, taking a secret with him", "the doorkeeper"),
        ("a bride disappeared without a trace on her wedding night", "the bride"),
    ),
}

_RULES = {
    "zh": (
        "过了零点，不要回应任何叫你名字的声音",
        "看见红色的绣花鞋，千万不要捡",
        "镜子里的你如果先眨眼，就立刻离开",
        "不要数楼梯的台阶",
        "不要接受陌生人递来的任何东西",
        "听见三长两短的敲门声，不要开门",
    ),
    "en": (
        "after midnight, never answer a voice that calls your name",
        "if you see a red embroidered shoe, do not pick it up",
        "if your reflection blinks first, leave at once",
        "never count the steps of a staircase",
        "never accept anything a stranger hands you",
        "if someone knocks three long and two short, do not open the door",
    ),
}

_DESIGN_NOTES = {
    "zh": (
        "退缩能让人冷静下来，却会错过线索，也会消耗宝贵的时间；好奇能逼近真相，代价是越来越深的恐惧。",
        "安抚类的选择能降低恐惧值，但时间不会等人：拖得太久，天亮之前就来不及揭开真相。",
        "每一次冒险都是一次交易：用恐惧换真相，用时间换安全。没有哪一条路是完全安全的。",
    ),
    "en": (
        "Backing off calms the nerves but misses clues and burns precious time; curiosity gets closer "
        "to the truth at the price of ever deeper fear.",
        "Calming choices lower fear, but the clock does not wait: linger too long and dawn comes before "
        "the truth does.",
        "Every risk is a trade: fear for truth, time for safety. No path is entirely safe.",
    ),
}

_CHARACTERS = {
    "zh": (
        (
            "老周",
            "夜班保安",
            "在{city}守了二十年夜，对每一处异响都了如指掌，却从不肯说自己为什么总在零点巡逻。",
        ),
        ("林晓", "灵异主播", "靠直播探访{city}的凶宅出名，嘴上说不信鬼，镜头外却随身带着外婆给的护身符。"),
        ("陈默", "出租车司机", "在{city}跑了十五年夜车，从不载午夜后招手的白衣乘客。"),
        ("苏青", "实习护士", "刚调到夜班，总觉得值班表上多出来的那个名字在看着她。"),
        ("阿杰", "外卖骑手", "为了多挣一单夜宵钱，把车骑进了导航上不存在的路。"),
        ("沈老师", "民俗学者", "研究{city}民间怪谈三十年，笔记本里记着所有不该说出口的名字。"),
        ("方岚", "退休刑警", "当年没能破的那桩失踪案，她一直没有放下。"),
        ("小唐", "便利店店员", "认识每一个凌晨来买东西的客人，除了那个只买白蜡烛的女人。"),
    ),
    "en": (
        (
            "Old Zhou",
            "night-shift security guard",
            "Has guarded {city}'s nights for twenty years and knows every strange noise, yet never says "
            "why he always patrols at midnight.",
        ),
        (
            "Lin Xiao",
            "paranormal livestreamer",
            "Famous for streaming from {city}'s haunted houses; claims not to believe in ghosts, but keeps "
            "grandmother's amulet close off camera.",
        ),
        (
            "Chen Mo",
            "taxi driver",
            "Has driven {city}'s night shift for fifteen years and never stops for passengers in white "
            "after midnight.",
        ),
        (
            "Su Qing",
            "trainee nurse",
            "New to the night shift, she feels watched by the extra name on the duty roster.",
        ),
        (
            "Ajie",
            "delivery rider",
            "Chasing one more late-night order, he rode down a street that does not exist on the map.",
        ),
        (
            "Professor Shen",
            "folklorist",
            "Has collected {city}'s ghost stories for thirty years; the notebook holds every name that "
            "should never be spoken.",
        ),
        ("Fang Lan", "retired detective", "Never let go of the missing-person case she could not solve."),
        (
            "Tang",
            "convenience store clerk",
            "Knows every customer of the night shift, except the woman who only ever buys white candles.",
        ),
    ),
}


# --------------------------------------------------------------------------------------------------
# The writer.
# --------------------------------------------------------------------------------------------------


class OfflineWriter:
    """Writes every reply locally from templates; same request, same reply. Spends no tokens."""

    name = "offline"
    model = "offline-writer-1"

    def __init__(self, latency_ms: float = 0.0, jitter: float = 0.0) -> None:
        self.latency_ms = max(0.0, latency_ms)
        self.jitter = max(0.0, jitter)
        self.calls = 0
        self._timing = random.Random()  # only for latency jitter: content never depends on it

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        self.calls += 1
        delay = self.latency_ms / 1000.0
        if self.jitter:
            delay *= self._timing.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        if delay > 0:
            await asyncio.sleep(delay)
        return Reply(text=orjson.dumps(write(request)).decode(), usage=Usage())

    async def aclose(self) -> None:
        return None


def write(request: Request) -> dict[str, Any]:
    """The reply object for a request, deterministic in the request."""
    rng = random.Random(request.key())
    context = request.context
    lang = context.get("lang") if context.get("lang") in _PLACES else "zh"
    if request.kind == "documents":
        return _documents(rng, lang, context)
    if request.kind == "characters":
        return _characters(rng, lang, context)
    if request.kind == "node":
        return _node(rng, lang, context)
    raise ValueError(f"the offline writer cannot answer a {request.kind!r} request")


# ---- small helpers -------------------------------------------------------------------------------


def _sentences(lang: str, parts: list[str]) -> str:
    return ("" if lang == "zh" else " ").join(part for part in parts if part)


def _size(lang: str, text: str) -> int:
    return len(text) if lang == "zh" else len(text.split())


def _minutes(hhmm: str) -> int:
    try:
        hours, mins = str(hhmm).split(":")
        return int(hours) * 60 + int(mins)
    except ValueError:
        return 0


def _time_left(lang: str, minutes_now: int) -> str:
    left = max(0, NIGHT_MINUTES - minutes_now)
    hours, mins = divmod(left, 60)
    if lang == "zh":
        return f"{hours}小时{mins}分钟" if hours else f"{mins}分钟"
    if not hours:
        return f"{mins} minutes"
    return f"{hours} hour{'s' if hours > 1 else ''} {mins} minutes"


def _with_article(role: str) -> str:
    lowered = role.lower()
    if lowered.startswith(("a ", "an ", "the ")):
        return role
    return ("an " if lowered[:1] in "aeiou" else "a ") + role


def _place_index(scene: str) -> int:
    """Which place a scene name is: by keyword, else a stable pick from its name."""
    lowered = scene.lower()
    for index, keywords in enumerate(_KEYWORDS):
        if any(keyword in lowered for keyword in keywords):
            return index
    return int(hashlib.sha256(scene.encode()).hexdigest()[:8], 16) % len(_KEYWORDS)


def _clean_choice(text: str) -> str:
    return str(text).strip().rstrip("。.!！")


def _values(lang: str, context: dict[str, Any], scene: str) -> dict[str, str]:
    character = context.get("character") or {}
    name = str(character.get("name") or ("你" if lang == "zh" else "You")).strip()
    role = str(character.get("role") or ("夜行者" if lang == "zh" else "night wanderer")).strip()
    state = context.get("state") or {}
    now = _minutes(state.get("time", "00:00"))
    return {
        "name": name,
        "role": role,
        "role_a": _with_article(role),
        "scene": scene,
        "city": str(context.get("city", "")),
        "time": str(state.get("time", "00:00")),
        "left": _time_left(lang, now),
    }


# ---- documents -----------------------------------------------------------------------------------


def _scene_names(rng: random.Random, lang: str, city: str) -> list[str]:
    count = rng.choice((5, 6))
    indices = rng.sample(range(len(_KEYWORDS)), count)
    return [rng.choice(_PLACES[lang][index].names).format(city=city) for index in indices]


def _documents(rng: random.Random, lang: str, context: dict[str, Any]) -> dict[str, Any]:
    city = str(context.get("city", ""))
    names = [str(name) for name in context.get("characters") or []]
    scenes = _scene_names(rng, lang, city)
    title = rng.choice(_TITLES[lang]).format(city=city)
    ghost, ghost_short = rng.choice(_GHOSTS[lang])
    year = rng.randint(1931, 1998)
    rules = rng.sample(_RULES[lang], 3)
    note = rng.choice(_DESIGN_NOTES[lang])
    facts = {
        "city": city,
        "title": title,
        "ghost": ghost,
        "Ghost": ghost[:1].upper() + ghost[1:],
        "short": ghost_short,
        "year": year,
        "s0": scenes[0],
        "s1": scenes[1],
        "s2": scenes[2],
        "last": scenes[-1],
        "n": len(scenes),
        "note": note,
        "rule1": rules[0],
        "rule2": rules[1],
        "rule3": rules[2],
    }
    if lang == "zh":
        facts["who"] = "、".join(names) if names else "几个各怀心事的陌生人"
        facts["scene_list"] = "、".join(scenes)
        facts["middle"] = "、".join(scenes[1:-1])
        return _documents_zh(rng, facts, scenes)
    facts["who"] = ", ".join(names) if names else "a handful of strangers with their own reasons"
    facts["scene_list"] = ", ".join(scenes)
    facts["middle"] = ", ".join(scenes[1:-1])
    return _documents_en(rng, facts, scenes)


def _documents_zh(rng: random.Random, facts: dict[str, Any], scenes: list[str]) -> dict[str, Any]:
    synopsis = rng.choice(
        (
            "{year}年，{ghost}。从那以后，{city}便流传着关于{s0}的怪谈。\n\n今夜零点，{who}走进了{s0}。"
            "距离天亮只有四个小时：熬到黎明，逃出去，或者在恐惧吞没自己之前找出真相。",
            "在{city}，老人们从不在午夜之后提起{s0}。{year}年，{ghost}，而怪事从未停止。\n\n今夜，{who}"
            "不得不穿过{s0}、{s1}和{s2}，在凌晨四点之前揭开这桩旧案。每一个选择都会让恐惧加深，也会让"
            "真相更近一步。",
        )
    ).format(**facts)
    game_design = (
        "《{title}》是一款以{city}为舞台的分支叙事恐怖游戏。玩家扮演{who}，在零点到凌晨四点之间穿行于"
        "{n}个场景：{scene_list}。\n\n"
        "游戏有三项数值：恐惧值（PR）从5开始，随着诡异事件不断上升，达到100即精神崩溃；真相值（GR）"
        "记录玩家对这桩旧案的了解，越高越接近真相；熟悉度（WF）代表对环境的掌握，熟悉度高的玩家更容易"
        "找到逃生的路。\n\n"
        "每个节点提供两到三个选择，每个选择都会改变数值、推动时间，有时还会带来新的场景、线索或道具。"
        "凌晨四点天亮，故事随之结束。\n\n"
        "结局共有七种：精神崩溃、真相大白、逃出生天、熬到天亮、被困、附身与牺牲。{note}"
    ).format(**facts)
    lore = (
        "{year}年的一个雨夜，{ghost}。当时的报纸只登了一条不到五十字的消息，此后再无下文。\n\n"
        "据说事发当晚，{s0}的灯一直亮到天明；也有人说，直到今天，{s1}里还能听见有人低声唱着一首老歌。\n\n"
        "{city}的老居民之间流传着几条规矩：{rule1}；{rule2}；{rule3}。\n\n"
        "近些年，怪事又多了起来：{s2}的值班人员接连辞职，{last}的监控拍到了无法解释的人影。没有人知道"
        "{short}在等什么。"
    ).format(**facts)
    main_story = (
        "第一幕·{s0}：零点整，{who}来到{s0}。一开始只是些说不清的小事：忽明忽暗的灯，多出来的脚步声，"
        "一张不该出现在这里的旧照片。\n\n"
        "第二幕·{middle}：线索把人一步步引向城市的各个角落。每一处都藏着{year}年那一夜的碎片，也藏着越来越"
        "近的危险。\n\n"
        "第三幕·{last}：一切在{last}汇合。{short}的真相就在那里，而天亮前的最后一个小时，也是它最躁动的"
        "时候。\n\n"
        "结局取决于玩家的选择：有人会在恐惧中崩溃，有人会带着真相离开，也有人会永远留在{city}的夜里。"
    ).format(**facts)
    return _document_reply(facts["title"], synopsis, game_design, lore, main_story, scenes)


def _documents_en(rng: random.Random, facts: dict[str, Any], scenes: list[str]) -> dict[str, Any]:
    synopsis = rng.choice(
        (
            "In {year}, {ghost}. Ever since, {city} has whispered stories about {s0}.\n\n"
            "Tonight at midnight, {who} walk into {s0}. Dawn is four hours away: survive until morning, "
            "escape, or uncover the truth before fear swallows everything.",
            "In {city}, old people never mention {s0} after midnight. In {year}, {ghost}, and the "
            "strange things never stopped.\n\nTonight {who} must pass through {s0}, {s1} and {s2} to "
            "solve an old case before four in the morning. Every choice deepens the fear, and brings the "
            "truth a little closer.",
        )
    ).format(**facts)
    game_design = (
        "{title} is a branching horror story set in {city}. The player is {who}, moving through {n} "
        "scenes between midnight and four in the morning: {scene_list}.\n\n"
        "Three meters drive the game. Fear (PR) starts at 5 and rises with every uncanny event; at 100 "
        "the mind breaks. Truth (GR) tracks how much of the old case the player has uncovered. "
        "Familiarity (WF) measures how well the player knows the place, and opens escape routes.\n\n"
        "Every node offers two or three choices. Each changes the meters and moves the clock forward, "
        "and some lead to new scenes, clues or items. At 04:00 dawn breaks and the story ends.\n\n"
        "There are seven endings: fear collapse, truth revealed, escape, dawn, trapped, possessed and "
        "sacrifice. {note}"
    ).format(**facts)
    lore = (
        "On a rainy night in {year}, {ghost}. The papers ran fewer than fifty words about it, and then "
        "nothing more.\n\n"
        "They say the lights of {s0} stayed on until morning that night; others say that to this day "
        "someone can be heard in {s1}, softly singing an old song.\n\n"
        "Old residents of {city} keep a few rules: {rule1}; {rule2}; {rule3}.\n\n"
        "Lately the strange things have returned. The night staff at {s2} keep quitting, and a camera "
        "at {last} has caught a figure no one can explain. Nobody knows what {short} is waiting for."
    ).format(**facts)
    main_story = (
        "Act one, {s0}: at midnight, {who} arrive at {s0}. At first it is only small things: lights that "
        "flicker, footsteps that do not belong, an old photograph that should not be there.\n\n"
        "Act two, {middle}: the clues lead from one corner of the city to the next. Each place hides a "
        "fragment of that night in {year}, and a danger that keeps getting closer.\n\n"
        "Act three, {last}: everything converges on {last}. The truth about {short} waits there, and "
        "the last hour before dawn is when it is most restless.\n\n"
        "How it ends is up to the player: some break under the fear, some leave with the truth, and some "
        "stay in the {city} night forever."
    ).format(**facts)
    return _document_reply(facts["title"], synopsis, game_design, lore, main_story, scenes)


def _document_reply(
    title: str, synopsis: str, game_design: str, lore: str, main_story: str, scenes: list[str]
) -> dict[str, Any]:
    return {
        "title": title,
        "synopsis": synopsis,
        "game_design": game_design,
        "lore": lore,
        "main_story": main_story,
        "scenes": scenes,
    }


def _characters(rng: random.Random, lang: str, context: dict[str, Any]) -> dict[str, Any]:
    city = str(context.get("city", ""))
    picked = rng.sample(_CHARACTERS[lang], 3)
    return {
        "characters": [
            {"name": name, "role": role, "description": description.format(city=city)}
            for name, role, description in picked
        ]
    }


# ---- nodes ---------------------------------------------------------------------------------------


def _node(rng: random.Random, lang: str, context: dict[str, Any]) -> dict[str, Any]:
    state = context.get("state") or {}
    scene = str(state.get("scene") or (context.get("scenes") or ["?"])[0])
    place = _PLACES[lang][_place_index(scene)]
    values = _values(lang, context, scene)
    pr, gr, wf = int(state.get("PR", 0)), int(state.get("GR", 0)), int(state.get("WF", 0))
    must_end = context.get("must_end")
    if must_end:
        kind = _ending_type(rng, must_end, pr, gr, wf)
        return _ending(rng, lang, context, place, values, kind)
    if context.get("may_end") and rng.random() < _WRITER_ENDING_CHANCE:
        kind = _declared_ending(pr, gr, wf)
        if kind:
            return _ending(rng, lang, context, place, values, kind)
    branching = int(context.get("branching", 3))
    count = branching
    if branching > 2 and rng.random() < _FEWER_CHOICES_CHANCE:
        count = rng.randint(2, branching - 1)
    return {
        "narrative": _narrative(rng, lang, context, place, values),
        "choices": _choices(rng, lang, context, place, max(2, count)),
        "ending": None,
    }


def _ending_type(rng: random.Random, reason: str, pr: int, gr: int, wf: int) -> str:
    if reason == "fear":
        return "fear_collapse"
    if reason == "dawn":
        return "dawn"
    # Weighted by the meters, so endings follow how the player played without all the paths
    # that converge near one state sharing a single fate.
    weights = {
        "truth_revealed": gr,
        "escape": wf,
        "possessed": max(0, pr - 40) * 2,
        "trapped": 20,
        "sacrifice": 12,
        "dawn": 12,
    }
    kinds = sorted(weights)
    return rng.choices(kinds, [weights[k] + 1 for k in kinds])[0]


def _declared_ending(pr: int, gr: int, wf: int) -> str | None:
    """An ending the state clearly earns, or None when no meter stands out."""
    if gr >= 45 and gr + 20 >= pr:
        return "truth_revealed"
    if wf >= 40 and wf + 20 >= pr:
        return "escape"
    if pr >= 90:
        return "possessed"
    return None


def _fear_band(pr: int) -> int:
    return min(4, max(0, pr) // 20)


def _truth_band(gr: int) -> int:
    return 0 if gr < 20 else 1 if gr < 50 else 2


def _narrative(
    rng: random.Random, lang: str, context: dict[str, Any], place: _Place, values: dict[str, str]
) -> str:
    """Four paragraphs of (priority, sentence); low priorities go first when the text is too long."""
    state = context.get("state") or {}
    path = context.get("path") or []
    pick = _picker(rng, lang, values, place)
    senses = rng.sample(_SENSES, 3)
    scene_para: list[tuple[int, str]] = []
    if path and path[-1].get("choice"):
        choice = _clean_choice(path[-1]["choice"])
        scene_para.append((6, rng.choice(_CALLBACKS[lang]).format(**values, choice=choice)))
    opening = _FIRST_OPENINGS if not path and int(context.get("depth", 0)) == 0 else _OPENINGS
    scene_para.append((9, pick(opening)))
    scene_para.append((8, pick(place.details)))
    body: list[tuple[int, str]] = [(4, pick(_ROLE_LINES))] if rng.random() < 0.5 else []
    body.append((8, pick(senses[0])))
    body.append((7, pick(_EVENTS)))
    body.insert(rng.randint(0, len(body)), (5, pick(senses[1])))
    memory: list[tuple[int, str]] = [(6, pick(_CLUES[lang][_truth_band(int(state.get("GR", 0)))]))]
    inventory = [str(item) for item in state.get("inventory") or [] if str(item).strip()]
    if inventory and rng.random() < 0.7:
        memory.append((5, rng.choice(_ITEM_LINES[lang]).format(**values, item=rng.choice(inventory))))
    known = [name for name, value in (state.get("flags") or {}).items() if value and name in _FLAGS]
    if known and rng.random() < 0.7:
        memory.append((5, _FLAGS[rng.choice(sorted(known))].callbacks[lang].format(**values)))
    rng.shuffle(memory)
    closing: list[tuple[int, str]] = []
    if rng.random() < 0.6:
        closing.append((3, pick(_TIME_LINES)))
    closing.append((9, pick(_FEAR[lang][_fear_band(int(state.get("PR", 0)))])))
    closing.append((9, pick(_HOOKS)))
    paragraphs = [scene_para, body, memory, closing]
    extras = [pick(place.details), pick(senses[2]), pick(_EVENTS)]
    return _fit(lang, paragraphs, extras, pad_into=1)


def _picker(rng: random.Random, lang: str, values: dict[str, str], place: _Place) -> Callable[[_Pool], str]:
    """pick(pool) -> one formatted sentence, never the same one twice in a narrative."""
    used: set[str] = set()

    def pick(pool: _Pool) -> str:
        options = pool[lang] if isinstance(pool, dict) else pool
        fresh = [option for option in options if option not in used] or list(options)
        template = rng.choice(fresh)
        used.add(template)
        return template.format(**values, obj=rng.choice(place.objects))

    return pick


def _fit(lang: str, paragraphs: list[list[tuple[int, str]]], extras: list[str], pad_into: int) -> str:
    """Join paragraphs, dropping the least important sentences or adding extras to fit the limits."""
    low, high = _LIMITS[lang]

    def render() -> str:
        texts = [_sentences(lang, [sentence for _, sentence in para]) for para in paragraphs]
        return "\n\n".join(text for text in texts if text)

    text = render()
    while _size(lang, text) > high:
        candidates = [
            (priority, p, i) for p, para in enumerate(paragraphs) for i, (priority, _) in enumerate(para)
        ]
        priority, p, i = min(candidates)
        if priority >= 9:
            break
        del paragraphs[p][i]
        text = render()
    while _size(lang, text) < low and extras:
        paragraphs[pad_into].append((0, extras.pop(0)))
        text = render()
    return text


def _choices(
    rng: random.Random, lang: str, context: dict[str, Any], place: _Place, count: int
) -> list[dict[str, Any]]:
    state = context.get("state") or {}
    current = str(state.get("scene", ""))
    destinations = [str(s) for s in context.get("scenes") or [] if str(s) != current]
    set_flags = {name for name, value in (state.get("flags") or {}).items() if value}
    held = {str(item) for item in state.get("inventory") or []}
    weights = [archetype.weight for archetype in _ARCHETYPES]
    choices: list[dict[str, Any]] = []
    texts: set[str] = set()
    effects: set[tuple[int, int, int, str | None]] = set()
    visited: set[str] = set()  # one move per destination
    kinds: list[str] = []
    # A frightened player is usually offered a way to steady themselves, so not every path
    # ends in fear collapse and the calmer endings stay reachable.
    offer_calm = int(state.get("PR", 0)) >= _CALM_OFFER_FEAR and rng.random() < _CALM_OFFER_CHANCE
    calm = next(a for a in _ARCHETYPES if a.name == "calm")
    for attempt in range(60):
        if len(choices) == count:
            break
        archetype = rng.choices(_ARCHETYPES, weights)[0] if attempt < 40 else _FALLBACK
        if offer_calm and "calm" not in kinds and len(choices) == count - 1 and attempt < 40:
            archetype = calm
        if archetype.name in ("move", "calm") and archetype.name in kinds:
            continue
        scene = None
        if archetype.name == "move":
            options = [s for s in destinations if s not in visited]
            if not options:
                continue
            scene = rng.choice(options)
        flag = None
        open_flags = [name for name in archetype.flags if name not in set_flags]
        if open_flags and rng.random() < _FLAG_CHANCE:
            flag = rng.choice(open_flags)
        pool = _FLAGS[flag].choices[lang] if flag else _CHOICE_TEXTS[archetype.name][lang]
        text = rng.choice(pool).format(obj=rng.choice(place.objects), scene=scene or current)
        if rng.random() < _RESOLVE_CHANCE:
            text = rng.choice(_RESOLVE[lang]) + (text if lang == "zh" else text[:1].lower() + text[1:])
        item = None
        spare = [name for name in _ITEMS[lang] if name not in held]
        if spare and rng.random() < _ITEM_CHANCE:
            item = rng.choice(spare)
            held.add(item)
            text += _ITEM_SUFFIX[lang].format(item=item)
        if text in texts:
            continue
        pr, gr, wf = (rng.randint(*archetype.pr), rng.randint(*archetype.gr), rng.randint(*archetype.wf))
        while (pr, gr, wf, scene) in effects:
            pr += 1
        texts.add(text)
        if scene:
            visited.add(scene)
        effects.add((pr, gr, wf, scene))
        kinds.append(archetype.name)
        choices.append(
            {
                "text": text,
                "consequences": {
                    "PR": pr,
                    "GR": gr,
                    "WF": wf,
                    "time": f"+{rng.randint(*archetype.minutes)}min",
                    "scene": scene,
                    "flags": [{"name": flag, "value": True}] if flag else [],
                    "items": [item] if item else [],
                },
            }
        )
    return choices


def _ending(
    rng: random.Random,
    lang: str,
    context: dict[str, Any],
    place: _Place,
    values: dict[str, str],
    kind: str,
) -> dict[str, Any]:
    path = context.get("path") or []
    pick = _picker(rng, lang, values, place)
    lead: list[tuple[int, str]] = []
    if path and path[-1].get("choice"):
        choice = _clean_choice(path[-1]["choice"])
        lead.append((6, rng.choice(_CALLBACKS[lang]).format(**values, choice=choice)))
    lead.append((8, pick(_OPENINGS)))
    lead.append((7, pick(place.details)))
    closing = [(9, rng.choice(_ENDING_TEXTS[lang][kind]).format(**values))]
    senses = rng.sample(_SENSES, 2)
    extras = [pick(senses[0]), pick(place.details), pick(senses[1]), pick(_EVENTS)]
    narrative = _fit(lang, [lead, closing], extras, pad_into=0)
    return {
        "narrative": narrative,
        "choices": [],
        "ending": {"type": kind, "title": rng.choice(_ENDING_TITLES[lang][kind])},
    }
