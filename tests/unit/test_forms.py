"""User-task forms: what a guard, an assistant or a resident sees when they submit one.

Messages must be Chinese and land beside the field that caused them; what was typed must
survive a failed post; and the data that reaches the workflow must be typed, with times in UTC.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from engine import forms
from engine.forms import check_schema, coerce, resolve_options, validate
from webapp import form_filters

ROOT = Path(__file__).resolve().parents[2]

# 急病 (type a), mode "escort to hospital": the duty lead must send at least two guards.
ESCORT = {
    "type": "object",
    "title": "护送就医",
    "required": ["mode", "guards", "confirmed"],
    "properties": {
        "mode": {"type": "string", "title": "处理方式", "enum": ["escort", "ambulance", "nursing"],
                 "x-enumNames": ["护送就医", "拨打120", "短期护理"]},
        "guards": {"type": "array", "title": "护送护管员", "minItems": 2, "uniqueItems": True,
                   "items": {"type": "string"}},
        "taxi_plate": {"type": "string", "title": "出租车车牌", "maxLength": 8, "pattern": "^[\u4e00-\u9fa5][A-Z][A-Z0-9]{5,6}$"},
        "confirmed": {"type": "boolean", "title": "已通知家属", "const": True},
        "departed_at": {"type": "string", "format": "date-time", "title": "出发时间", "maxLength": 40},
    },
}
ESCORT_UI = {"guards": {"ui:widget": "checkboxes",
                        "ui:options": {"enum_from": "guards_on_duty", "value_key": "username", "label_key": "name"}}}
TASK_DATA = {"guards_on_duty": [{"username": "wang", "name": "王护管"}, {"username": "li", "name": "李护管"},
                                {"username": "zhao", "name": "赵护管"}]}

VISIT = {
    "type": "object",
    "required": ["caller_name", "address", "visit_date"],
    "properties": {
        "caller_name": {"type": "string", "title": "来电人", "minLength": 2, "maxLength": 10},
        "phone": {"type": "string", "format": "phone", "title": "联系电话", "pattern": "^1\\d{10}$", "maxLength": 32,
                  "x-errorMessage": "手机号应为11位数字"},
        "people": {"type": "integer", "title": "人数", "minimum": 1, "maximum": 5},
        "fee": {"type": "number", "title": "费用"},
        "visit_date": {"type": "string", "format": "date", "title": "上门日期", "maxLength": 10},
        "address": {"type": "object", "title": "地址", "required": ["building"],
                    "properties": {"building": {"type": "string", "title": "楼栋", "maxLength": 20},
                                   "unit": {"type": "string", "title": "单元", "maxLength": 20}}},
        "items": {"type": "array", "title": "材料", "items": {"type": "string", "minLength": 2, "maxLength": 50}},
        "urgent": {"type": "boolean", "title": "紧急"},
        "note": {"type": "string", "title": "备注", "readOnly": True, "maxLength": 200},
    },
}


def escort_schema():
    return resolve_options(ESCORT, ESCORT_UI, TASK_DATA)


# --- validate: Chinese messages on the right field ------------------------------------------

def test_valid_data_gives_no_errors():
    data = {"mode": "escort", "guards": ["wang", "li"], "confirmed": True,
            "departed_at": "2024-05-01T02:30:00Z", "taxi_plate": "粤B12345"}
    assert validate(escort_schema(), data) == {}


def test_each_missing_required_field_is_reported_on_its_own_path():
    errors = validate(escort_schema(), {})
    assert errors == {"mode": "请填写此项", "guards": "请填写此项", "confirmed": "请填写此项"}


def test_escort_needs_two_guards_and_a_confirmation():
    errors = validate(escort_schema(), {"mode": "escort", "guards": ["wang"], "confirmed": False})
    assert errors["guards"] == "至少需要2项"
    assert errors["confirmed"] == "必须确认此项"


def test_a_guard_not_offered_is_rejected_on_the_list_entry():
    errors = validate(escort_schema(), {"mode": "escort", "guards": ["wang", "stranger"], "confirmed": True})
    assert errors == {"guards.1": "第2项：请从选项中选择"}


def test_enum_length_range_type_and_format_messages():
    errors = validate(VISIT, {"caller_name": "张", "people": 9, "fee": "十元", "visit_date": "2024-02-30",
                              "address": {"building": "3栋"}})
    assert errors == {"caller_name": "至少填写2个字", "people": "不能大于5", "fee": "格式不正确，应为数字",
                      "visit_date": "日期格式不正确"}
    errors = validate(VISIT, {"caller_name": "一二三四五六七八九十十一", "people": 0, "visit_date": "2024-02-01",
                              "address": {"building": "3栋"}})
    assert errors == {"caller_name": "最多填写10个字", "people": "不能小于1"}
    errors = validate(escort_schema(), {"mode": "helicopter", "guards": ["wang", "li"], "confirmed": True,
                                        "departed_at": "2024-05-01 10:30"})
    assert errors == {"mode": "请从选项中选择", "departed_at": "时间格式不正确"}


def test_integer_type_message():
    errors = validate(VISIT, {"caller_name": "张三", "people": "2.5", "visit_date": "2024-02-01",
                              "address": {"building": "3栋"}})
    assert errors == {"people": "格式不正确，应为整数"}


def test_pattern_uses_the_schema_message_when_it_has_one():
    base = {"caller_name": "张三", "visit_date": "2024-02-01", "address": {"building": "3栋"}}
    assert validate(VISIT, {**base, "phone": "12345"}) == {"phone": "手机号应为11位数字"}
    errors = validate(escort_schema(), {"mode": "escort", "guards": ["wang", "li"], "confirmed": True,
                                        "taxi_plate": "abc"})
    assert errors == {"taxi_plate": "格式不正确"}


def test_nested_and_array_entry_paths():
    errors = validate(VISIT, {"caller_name": "张三", "visit_date": "2024-02-01", "address": {"unit": "2"},
                              "items": ["水管", "x"]})
    assert errors == {"address.building": "请填写此项", "items.1": "第2项：至少填写2个字"}


def test_if_then_reports_the_field_the_condition_made_required():
    schema = {"type": "object",
              "properties": {"channel": {"type": "string", "enum": ["hotline", "online"]},
                             "customer_username": {"type": "string", "title": "住户账号"}},
              "if": {"properties": {"channel": {"const": "online"}}, "required": ["channel"]},
              "then": {"required": ["customer_username"]}}
    assert validate(schema, {"channel": "online"}) == {"customer_username": "请填写此项"}
    assert validate(schema, {"channel": "hotline"}) == {}


def test_one_of_failure_gives_the_deepest_useful_message():
    schema = {"type": "object",
              "properties": {"kind": {"type": "string"}, "amount": {"type": "number"}},
              "oneOf": [
                  {"properties": {"kind": {"const": "free"}}, "required": ["kind"]},
                  {"properties": {"kind": {"const": "paid"}, "amount": {"minimum": 1}},
                   "required": ["kind", "amount"]},
              ]}
    assert validate(schema, {"kind": "paid", "amount": 0}) == {"amount": "不能小于1"}


def test_first_message_per_field_wins():
    schema = {"type": "object", "properties": {"code": {"type": "string", "minLength": 4, "pattern": "^[0-9]+$"}}}
    assert validate(schema, {"code": "ab"}) == {"code": "至少填写4个字"}


# --- coerce: from an HTML post to typed data -----------------------------------------------------

def test_coerce_types_every_kind_of_field():
    form = {"caller_name": ["  张三  "], "phone": [""], "people": ["3"], "fee": ["12.5"], "visit_date": ["2024-05-01"],
            "address.building": ["3栋"], "address.unit": [""], "items": ["水管\r\n\r\n 阀门 \n"],
            "urgent": ["true"], "csrf_token": ["x"], "note": ["tampered"]}
    assert coerce(VISIT, form) == {"caller_name": "张三", "people": 3, "fee": 12.5, "visit_date": "2024-05-01",
                                   "address": {"building": "3栋"}, "items": ["水管", "阀门"], "urgent": True}


def test_unchecked_boxes_are_false_and_empty_lists_and_required_objects_kept():
    data = coerce(VISIT, {})
    assert data == {"urgent": False, "items": [], "address": {}}
    assert validate(VISIT, data)["address.building"] == "请填写此项"


def test_optional_nested_object_left_blank_stays_absent():
    schema = {"type": "object", "properties": {
        "family": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}
    assert coerce(schema, {"family.name": [""]}) == {}


def test_checkbox_group_posts_one_value_per_box():
    data = coerce(escort_schema(), {"mode": ["escort"], "guards": ["wang", "li"], "confirmed": ["on"]})
    assert data == {"mode": "escort", "guards": ["wang", "li"], "confirmed": True}
    assert validate(escort_schema(), data) == {}


def test_bad_numbers_are_kept_for_the_error_message():
    data = coerce(VISIT, {"people": ["三"], "fee": ["abc"]})
    assert data["people"] == "三" and data["fee"] == "abc"
    errors = validate(VISIT, data)
    assert errors["people"] == "格式不正确，应为整数" and errors["fee"] == "格式不正确，应为数字"


def test_full_width_digits_from_chinese_input_methods_are_numbers():
    assert coerce(VISIT, {"people": ["２"]})["people"] == 2


def test_datetime_local_is_shanghai_time_stored_as_utc():
    data = coerce(ESCORT, {"departed_at": ["2024-05-01T10:30"]})
    assert data["departed_at"] == "2024-05-01T02:30:00Z"
    # across midnight, and a value that already has an offset (an API client)
    assert coerce(ESCORT, {"departed_at": ["2024-05-01T07:05"]})["departed_at"] == "2024-04-30T23:05:00Z"
    assert coerce(ESCORT, {"departed_at": ["2024-05-01T10:30:00+08:00"]})["departed_at"] == "2024-05-01T02:30:00Z"
    assert coerce(ESCORT, {"departed_at": ["昨天"]})["departed_at"] == "昨天"


def test_integer_choices_arrive_as_integers():
    schema = {"type": "object", "properties": {
        "floors": {"type": "array", "items": {"type": "integer", "enum": [1, 2, 3]}},
        "rating": {"type": "integer", "enum": [1, 2, 3, 4, 5]}}}
    assert coerce(schema, {"floors": ["1", "3"], "rating": ["5"]}) == {"floors": [1, 3], "rating": 5}


# --- options from task data -----------------------------------------------------------------------

def test_options_come_from_task_data_for_checkbox_items():
    schema = escort_schema()
    assert schema["properties"]["guards"]["items"]["enum"] == ["wang", "li", "zhao"]
    assert schema["properties"]["guards"]["items"]["x-enumNames"] == ["王护管", "李护管", "赵护管"]
    assert "enum" not in ESCORT["properties"]["guards"]["items"]  # the deployed schema is untouched


def test_options_from_plain_strings_default_keys_and_missing_data():
    schema = {"type": "object", "properties": {
        "building": {"type": "string"}, "fee": {"type": "string"}, "nobody": {"type": "string"}}}
    ui = {"building": {"ui:options": {"enum_from": "buildings"}},
          "fee": {"ui:options": {"enum_from": "fees"}},
          "nobody": {"ui:options": {"enum_from": "absent"}}}
    data = {"buildings": ["1栋", "2栋"], "fees": [{"code": "F1", "name": "换锁", "price": 50}]}
    props = resolve_options(schema, ui, data)["properties"]
    assert (props["building"]["enum"], props["building"]["x-enumNames"]) == (["1栋", "2栋"], ["1栋", "2栋"])
    assert (props["fee"]["enum"], props["fee"]["x-enumNames"]) == (["F1"], ["换锁"])
    assert props["nobody"]["enum"] == []
    assert validate(resolve_options(schema, ui, data), {"nobody": "x"}) == {"nobody": "请从选项中选择"}


# --- check_schema: broken forms are refused at deploy ----------------------------------------------

def test_good_forms_pass_the_check():
    assert check_schema(ESCORT, ESCORT_UI) == []
    assert check_schema(VISIT) == []


def test_check_schema_catches_broken_forms():
    assert check_schema({"type": "object", "properties": {"a": {"type": "strnig"}}})[0].startswith(
        "not a valid draft 2020-12 schema")
    problems = check_schema(
        {"type": "object", "required": ["nme"],
         "properties": {"name": {"type": "string"}, "n": {"type": "integer"},
                        "list": {"type": "array", "items": {"type": "object"}}, "when": {"type": "string",
                                                                                      "format": "time"}}},
        {"n": {"ui:widget": "checkboxes"}, "name": {"ui:widget": "radio"}})
    text = "\n".join(problems)
    assert "'nme' is not in properties" in text
    assert "n: widget 'checkboxes' cannot draw a field of type 'integer'" in text
    assert "name: widget 'radio' needs an enum" in text
    assert "list: only arrays of strings or numbers" in text
    assert "when: unsupported format 'time'" in text
    assert not re.search(r"[\u4e00-\u9fff]", text)  # developer output stays English


# --- rendering -------------------------------------------------------------------------------------

@pytest.fixture
def render():
    env = Environment(loader=FileSystemLoader(str(ROOT / "webapp" / "templates")), autoescape=True)
    form_filters.register(env)
    template = env.from_string(
        '{% from "forms/_macros.html" import render_form_fields %}'
        "{{ render_form_fields(schema, ui, values, errors) }}")

    def _render(schema, ui=None, values=None, errors=None):
        return template.render(schema=schema, ui=ui, values=values, errors=errors)
    return _render


def field_block(html: str, name: str) -> str:
    """The markup of the one field whose input is called ``name``."""
    blocks = re.split(r"(?=<div class=\"form-field|<fieldset)", html)
    return next(b for b in blocks if f'name="{name}"' in b)


def test_typed_values_are_escaped_and_kept(render):
    html = render(VISIT, values={"caller_name": "<script>alert(1)</script>", "people": "三"})
    assert "<script>alert(1)</script>" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert 'value="三"' in field_block(html, "people")  # shown as text, not blanked by a number input


def test_error_message_sits_beside_its_field(render):
    errors = {"caller_name": "至少填写2个字", "address.building": "请填写此项"}
    html = render(VISIT, values={"caller_name": "张"}, errors=errors)
    block = field_block(html, "caller_name")
    assert 'aria-invalid="true"' in block
    assert '<p class="field-error" id="field-caller_name-error">至少填写2个字</p>' in block
    building = field_block(html, "address.building")
    assert "请填写此项" in building and "至少填写2个字" not in building
    assert 'aria-invalid' not in field_block(html, "people")


def test_labels_come_from_titles_with_a_star_when_required(render):
    html = render(VISIT)
    assert re.search(r'<label class="field-label" for="field-caller_name">来电人<span class="required"', html)
    assert re.search(r'for="field-people">人数</label>', html)
    assert "<legend>地址" in html and 'name="address.building"' in html


def test_selected_option_and_checked_boxes_reflect_values(render):
    html = render(escort_schema(), ESCORT_UI, values={"mode": "ambulance", "guards": ["wang", "zhao"],
                                                       "confirmed": True,
                                                       "departed_at": "2024-05-01T02:30:00Z"})
    assert '<option value="ambulance" selected>拨打120</option>' in html
    assert '<option value="escort">护送就医</option>' in html
    checked = re.findall(r'name="guards" value="(\w+)" checked', html)
    assert checked == ["wang", "zhao"] and "李护管" in html
    assert re.search(r'type="checkbox" value="true" id="field-confirmed" name="confirmed"[^>]* checked', html)
    assert 'type="datetime-local" value="2024-05-01T10:30"' in html  # UTC shown as Shanghai wall time


def test_ui_order_radio_help_readonly_and_free_text_lists(render):
    ui = {"ui:order": ["visit_date", "*"], "urgent": {"ui:widget": "radio"},
          "caller_name": {"ui:help": "请填写全名"}}
    schema = copy.deepcopy(VISIT)
    schema["properties"]["urgent"] = {"type": "string", "title": "紧急", "enum": ["yes", "no"]}
    html = render(schema, ui, values={"urgent": "no", "items": ["水管", "阀门"], "note": "客服已致电"})
    assert html.index('name="visit_date"') < html.index('name="caller_name"')
    assert re.search(r'type="radio" id="field-urgent-2" name="urgent" value="no" checked', html)
    assert '<small class="field-help" id="field-caller_name-help">请填写全名</small>' in html
    assert re.search(r'<textarea rows="4" id="field-items" name="items">水管\n阀门</textarea>', html)
    assert "每行填写一项" in html
    assert re.search(r'value="客服已致电" id="field-note" name="note" disabled', html)


def test_read_only_fields_keep_the_server_value_not_the_posted_one():
    data = coerce(VISIT, {"note": ["tampered"], "caller_name": ["张三"]}, current={"note": "客服已致电"})
    assert data["note"] == "客服已致电" and data["caller_name"] == "张三"


# --- limits (issue #12) ------------------------------------------------------------------------------------

def test_the_deploy_check_demands_a_length_limit_on_every_free_text_field():
    problems = check_schema({"type": "object", "properties": {
        "note": {"type": "string"}, "huge": {"type": "string", "maxLength": 10**6},
        "tags": {"type": "array", "items": {"type": "string"}},
        "kind": {"type": "string", "enum": ["a", "b"]}, "ok": {"type": "string", "maxLength": 200}}})
    assert problems == ["note: a text field needs maxLength (at most 10000)",
                        "huge: maxLength 1000000 is above the limit of 10000",
                        "tags[]: a text field needs maxLength (at most 10000)"]


def test_every_form_of_the_procedure_limits_its_text_fields():
    forms_dir = Path(__file__).resolve().parents[2] / "forms"
    schemas = sorted(forms_dir.glob("*.schema.json"))
    assert len(schemas) > 80
    for path in schemas:
        ui_path = path.with_name(path.name.replace(".schema.json", ".uischema.json"))
        ui = json.loads(ui_path.read_text()) if ui_path.exists() else None
        schema = json.loads(path.read_text())
        assert not [p for p in check_schema(schema, ui) if "maxLength" in p], path.name


@pytest.mark.parametrize("typed, stored", [
    ("１３８００１３８０００", "13800138000"), ("０７５５－８８８８　６６６６", "0755-8888 6666"),
    ("（0755）88886666", "(0755)88886666"), (" 13800138000 ", "13800138000")])
def test_phone_numbers_typed_with_a_chinese_input_method_are_normalised(typed, stored):
    assert forms.normalise_phone(typed) == stored
    data = forms.coerce({"type": "object", "properties": {"phone": {"type": "string", "format": "phone"}}},
                        {"phone": [typed]})
    assert data == {"phone": stored}


@pytest.mark.parametrize("phone, ok", [
    ("13800138000", True), ("0755-8888 6666", True), ("(0755)88886666", True), ("010 6552 9988转123", True),
    ("95598", True), ("+852 2123 4567", True), ("0755-8888 6666 转 123", True), ("400-830-6688 转 2", True),
    ("010 6552 9988 ext. 123", True), ("0755-8888 6666 转", False), ("1" * 200, False), ("12", False), ("call me", False),
    ("0755-8888\n6666", False)])
def test_mobile_and_landline_numbers_are_phone_numbers(phone, ok):
    schema = {"type": "object", "properties": {"phone": {"type": "string", "format": "phone", "maxLength": 32}}}
    assert (validate(schema, {"phone": phone}) == {}) is ok
