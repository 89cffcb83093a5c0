//! The pages: routes, handlers and their markup (maud). Each handler reads through the JSON
//! API in-process ([`crate::api`]) and renders; each form posts back here with the CSRF
//! token ([`crate::CsrfForm`]), the handler calls the API and redirects (POST → redirect →
//! GET), so a reload never repeats an action.
//!
//! Accessibility: every form field has a `<label for>`; a grade badge always carries its
//! colour's name and a shape besides the colour; time to a deadline is text; tables have
//! header cells; the language is declared on `<html>`.

use crate::api::{self, enc, ApiFailure};
use crate::i18n::{colour_label, duration, hours_left, Lang, Msg};
use crate::session::{self, LANG_COOKIE, SESSION_COOKIE, SIGNIN_COOKIE};
use crate::{CsrfForm, Ctx, SignedIn, WebState};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use contracts::{Colour, DistrictCode, InstitutionCode};
use edge::{Principal, Role};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

const STYLE: &str = include_str!("style.css");

/// The routes (state is added by [`crate::router`]).
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .route("/static/style.css", get(style))
        .route("/inbox", get(inbox))
        .route("/alerts/{alert_id}/ack", post(acknowledge))
        .route("/cases/{case_id}", get(case_page))
        .route("/worklist", get(worklist))
        .route("/worklist/export", get(worklist_export))
        .route("/follow-ups/{item_id}/outcome", post(record_outcome))
        .route("/registers", get(registers_home))
        .route("/registers/{register}", get(register))
        .route("/referrals", get(referrals))
        .route("/referrals/{id}/{step}", post(referral_step))
        .route("/indicators", get(indicators))
        .route("/indicators/export", get(indicators_export))
        .layer(middleware::from_fn(remember_lang))
}

/// `?lang=xx` on any page also sets the language cookie.
async fn remember_lang(req: Request, next: Next) -> Response {
    let chosen = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    let mut res = next.run(req).await;
    if let Some(lang) = chosen {
        let cookie = session::set_cookie(LANG_COOKIE, lang.code(), 365 * 86_400, false);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

// ---------------------------------------------------------------------------------------
// Shared pieces

fn page(ctx: &Ctx, title: &str, notice: Option<Msg>, body: Markup) -> Markup {
    let lang = ctx.lang;
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (Msg::AppName.text(lang)) }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { (Msg::AppName.text(lang)) }
                    @if let Some(s) = &ctx.session {
                        nav aria-label=(Msg::Home.text(lang)) {
                            @for (href, m) in nav_items(&s.principal) {
                                a href=(href) aria-current=[ctx.path.starts_with(href).then_some("page")] { (m.text(lang)) }
                            }
                        }
                    }
                    div.right {
                        a lang=(other.tag()) href={ (ctx.path) "?lang=" (other.code()) } { (Msg::SwitchLang.text(lang)) }
                        @if let Some(s) = &ctx.session {
                            span.who { (Msg::SignedInAs.text(lang)) ": " (ctx.who.as_deref().unwrap_or(s.principal.institution.as_str())) }
                            form.inline method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { (Msg::SignOut.text(lang)) }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(n) = notice {
                        p.notice role="status" { "✔ " (n.text(lang)) }
                    }
                    (body)
                }
            }
        }
    }
}

fn nav_items(p: &Principal) -> Vec<(&'static str, Msg)> {
    match p.role {
        Role::DistrictOffice | Role::CityOffice => vec![
            ("/inbox", Msg::NavInbox),
            ("/worklist", Msg::NavWorklist),
            ("/registers", Msg::NavRegisters),
            ("/referrals", Msg::NavReferrals),
            ("/indicators", Msg::NavIndicators),
        ],
        Role::RescueCentre | Role::Hospital => vec![("/referrals", Msg::NavReferrals)],
        Role::Reviewer | Role::Admin => Vec::new(),
    }
}

/// The content security policy of every page: nothing but this origin's stylesheet, no
/// script, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, Html(markup.into_string())).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // Pages hold personal data: never cached, never leaked through a Referer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// An error page in `lang` with `status`, a message and, optionally, the API's detail and
/// field errors.
pub fn error_page(
    lang: Lang,
    status: StatusCode,
    message: Msg,
    failure: Option<&ApiFailure>,
) -> Response {
    let ctx = Ctx {
        lang,
        path: "/".into(),
        session: None,
        who: None,
    };
    let body = html! {
        p.error role="alert" { "⚠ " (message.text(lang)) }
        @if let Some(f) = failure {
            @if let Some(d) = &f.detail { p.detail { (d) } }
            @if !f.errors.is_empty() {
                ul.errors { @for (ptr, msg) in &f.errors { li { code { (ptr) } " " (msg) } } }
            }
        }
        p { a href="/" { (Msg::Home.text(lang)) } }
    };
    let title = format!("{} {}", status.as_u16(), message.text(lang));
    html_response(status, page(&ctx, &title, None, body))
}

/// The error page for a failed API call.
fn failed(lang: Lang, f: &ApiFailure) -> Response {
    let msg = match f.status {
        StatusCode::NOT_FOUND => Msg::ErrNotFound,
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Msg::ErrForbidden,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Msg::ErrInvalid,
        StatusCode::CONFLICT => Msg::ErrConflict,
        StatusCode::SERVICE_UNAVAILABLE => Msg::ErrUnavailable,
        _ => Msg::ErrInternal,
    };
    let status = if f.status.is_client_error() || f.status == StatusCode::SERVICE_UNAVAILABLE {
        f.status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    error_page(lang, status, msg, Some(f))
}

/// A grade badge: shape + colour name + colour, so colour is never the only signal.
fn badge(colour: Option<Colour>, lang: Lang) -> Markup {
    let Some(c) = colour else {
        return html! { span.badge.b-none { (Msg::Nothing.text(lang)) } };
    };
    let (shape, class) = match c {
        Colour::Green => ("●", "b-green"),
        Colour::Yellow => ("▲", "b-yellow"),
        Colour::Orange => ("◆", "b-orange"),
        Colour::Red => ("■", "b-red"),
        Colour::Purple => ("✚", "b-purple"),
    };
    html! {
        span class={ "badge " (class) } data-colour=(c.as_str()) {
            span.shape aria-hidden="true" { (shape) } " " (colour_label(c, lang))
        }
    }
}

/// The badges of a grade: its colour and, when infectious, purple beside it.
fn grade_badges(v: &Value, colour_key: &str, purple_key: &str, lang: Lang) -> Markup {
    let colour = v[colour_key].as_str().and_then(|c| Colour::parse(c).ok());
    let purple = v[purple_key].as_bool().unwrap_or(false) && colour != Some(Colour::Purple);
    html! {
        (badge(colour, lang))
        @if purple { " " (badge(Some(Colour::Purple), lang)) }
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A stored RFC 3339 time shown in local time, to the minute.
fn local(state: &WebState, v: &Value) -> String {
    v.as_str()
        .and_then(parse_time)
        .map(|t| {
            let t = t.to_offset(state.settings.display_offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_else(|| "—".into())
}

fn institution_name(state: &WebState, code: &Value, lang: Lang) -> String {
    let Some(raw) = code.as_str() else {
        return "—".into();
    };
    InstitutionCode::parse(raw)
        .ok()
        .and_then(|c| state.reference.institution(&c))
        .map(|i| match lang {
            Lang::Zh => i.name_zh.clone(),
            Lang::En => i.name_en.clone(),
        })
        .unwrap_or_else(|| raw.to_owned())
}

fn district_name(state: &WebState, code: &Value, lang: Lang) -> String {
    let Some(raw) = code.as_str() else {
        return "—".into();
    };
    DistrictCode::parse(raw)
        .ok()
        .and_then(|c| state.reference.district(&c))
        .map(|d| match lang {
            Lang::Zh => d.name_zh.clone(),
            Lang::En => d.name_en.clone(),
        })
        .unwrap_or_else(|| raw.to_owned())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csrf_field(s: &SignedIn) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.session.csrf); }
}

fn notice_of(q: &HashMap<String, String>) -> Option<Msg> {
    match q.get("done").map(String::as_str) {
        Some("ack") => Some(Msg::AcknowledgedDone),
        Some("outcome") => Some(Msg::OutcomeSaved),
        Some("referral") => Some(Msg::ReferralSaved),
        _ => None,
    }
}

/// Only a local path may be a redirect target.
fn local_path(raw: Option<&str>, default: &str) -> String {
    match raw {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => default.to_owned(),
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ---------------------------------------------------------------------------------------
// Sign-in and out

async fn home(ctx: Ctx) -> Response {
    match &ctx.session {
        None => see_other("/signin"),
        Some(s) => match s.principal.role {
            Role::DistrictOffice | Role::CityOffice => see_other("/inbox"),
            Role::RescueCentre | Role::Hospital => see_other("/referrals"),
            Role::Reviewer | Role::Admin => {
                let body = html! { p { (ctx.t(Msg::SignedInAs)) ": " (s.principal.institution) } };
                html_response(StatusCode::OK, page(&ctx, ctx.t(Msg::Home), None, body))
            }
        },
    }
}

fn signin_page(ctx: &Ctx, token: &str, bad: bool) -> Markup {
    let body = html! {
        p { (ctx.t(Msg::SignInIntro)) }
        @if bad { p.error role="alert" { "⚠ " (ctx.t(Msg::BadKey)) } }
        form.card method="post" action="/signin" {
            input type="hidden" name="csrf" value=(token);
            label for="key" { (ctx.t(Msg::ApiKey)) }
            input id="key" type="password" name="key" required autocomplete="off" autofocus;
            button type="submit" { (ctx.t(Msg::SignIn)) }
        }
    };
    page(ctx, ctx.t(Msg::SignIn), None, body)
}

/// Renders the sign-in form with a fresh double-submit token (cookie + hidden field).
fn signin_response(state: &WebState, ctx: &Ctx, status: StatusCode, bad: bool) -> Response {
    let token = session::random_token();
    let cookie = session::set_cookie(SIGNIN_COOKIE, &token, 3600, state.settings.secure_cookies);
    let mut res = html_response(status, signin_page(ctx, &token, bad));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn signin_form(State(state): State<WebState>, ctx: Ctx) -> Response {
    signin_response(&state, &ctx, StatusCode::OK, false)
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    key: String,
}

async fn signin(State(state): State<WebState>, ctx: Ctx, req: Request) -> Response {
    let lang = ctx.lang;
    let pre = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| session::cookie(h, SIGNIN_COOKIE))
        .map(str::to_owned);
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), crate::FORM_LIMIT).await else {
        return error_page(lang, StatusCode::PAYLOAD_TOO_LARGE, Msg::ErrInvalid, None);
    };
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&bytes) else {
        return error_page(lang, StatusCode::FORBIDDEN, Msg::ErrCsrf, None);
    };
    if !pre.is_some_and(|p| session::same_token(&p, &form.csrf)) {
        tracing::warn!("sign-in refused: CSRF token missing or wrong");
        return error_page(lang, StatusCode::FORBIDDEN, Msg::ErrCsrf, None);
    }
    let key = form.key.trim();
    let principal = match edge::authenticate(&state.store, key).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::info!("web sign-in refused: unknown or revoked key");
            return signin_response(&state, &ctx, StatusCode::UNAUTHORIZED, true);
        }
        Err(e) => {
            tracing::error!(error = %e, "web sign-in");
            return error_page(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::ErrUnavailable,
                None,
            );
        }
    };
    let ttl = state.settings.session_ttl;
    let (token, _) = match session::create(&state.store, principal, edge::hash_key(key), ttl).await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "creating a web session");
            return error_page(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::ErrUnavailable,
                None,
            );
        }
    };
    let secure = state.settings.secure_cookies;
    let mut res = see_other("/");
    for c in [
        session::set_cookie(SESSION_COOKIE, &token, ttl.whole_seconds(), secure),
        session::set_cookie(SIGNIN_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

#[derive(Deserialize)]
struct Empty {}

async fn signout(State(state): State<WebState>, f: CsrfForm<Empty>) -> Response {
    if let Err(e) = session::end(&state.store, &f.user.session).await {
        tracing::error!(error = %e, "ending a web session");
        return error_page(
            f.user.ctx.lang,
            StatusCode::SERVICE_UNAVAILABLE,
            Msg::ErrUnavailable,
            None,
        );
    }
    let mut res = see_other("/signin");
    let c = session::set_cookie(SESSION_COOKIE, "", 0, state.settings.secure_cookies);
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---------------------------------------------------------------------------------------
// Alert inbox

async fn inbox(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let status = match q.get("status").map(String::as_str) {
        Some("acknowledged") => "acknowledged",
        _ => "open",
    };
    let mut uri = format!("/v1/alerts?status={status}");
    if let Some(d) = q.get("district") {
        uri.push_str(&format!("&district={}", enc(d)));
    }
    let answer = match api::call(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    let mut alerts: Vec<Value> = answer["alerts"].as_array().cloned().unwrap_or_default();
    // Overdue first (the API lists by due time; an escalated, overdue alert stays first).
    alerts.sort_by_key(|a| !a["overdue"].as_bool().unwrap_or(false));
    let body = html! {
        nav.tabs aria-label=(ctx.t(Msg::Status)) {
            a href="/inbox" aria-current=[(status == "open").then_some("page")] { (ctx.t(Msg::InboxOpen)) }
            a href="/inbox?status=acknowledged" aria-current=[(status == "acknowledged").then_some("page")] { (ctx.t(Msg::InboxAcknowledged)) }
        }
        @if alerts.is_empty() {
            p.empty { (ctx.t(Msg::NoAlerts)) }
        } @else {
            table.list id="alerts" {
                thead { tr {
                    th scope="col" { (ctx.t(Msg::Colour)) }
                    th scope="col" { (ctx.t(Msg::Kind)) }
                    th scope="col" { (ctx.t(Msg::Case)) }
                    th scope="col" { (ctx.t(Msg::AssessedAt)) }
                    th scope="col" { (ctx.t(Msg::Institution)) }
                    th scope="col" { (ctx.t(Msg::DueAt)) }
                    th scope="col" { (ctx.t(Msg::TimeLeft)) }
                    th scope="col" { (ctx.t(Msg::Action)) }
                } }
                tbody {
                    @for a in &alerts {
                        @let id = a["alert_id"].as_str().unwrap_or_default();
                        @let overdue = a["overdue"].as_bool().unwrap_or(false);
                        tr.overdue[overdue] data-alert=(id) {
                            td { (grade_badges(a, "colour", "infectious", lang)) " " small { (ctx.t(Msg::Score)) " " (text(&a["score"])) } }
                            td { (alert_kind(a["kind"].as_str(), lang))
                                 @if a["reported_late"].as_bool().unwrap_or(false) { " " span.tag { (ctx.t(Msg::ReportedLate)) } } }
                            td { a href={ "/cases/" (a["case_id"].as_str().unwrap_or_default()) } { (short_case(&a["case_id"])) } }
                            td { (local(&state, &a["assessed_at"])) }
                            td { (institution_name(&state, &a["institution"], lang)) }
                            td { (local(&state, &a["due_at"])) }
                            td.timeleft {
                                @if status == "acknowledged" {
                                    (ctx.t(Msg::Acknowledged)) " " (local(&state, &a["acknowledged_at"]))
                                } @else if overdue {
                                    strong.overdue-text { "⚠ " (a["seconds_left"].as_i64().map(|s| hours_left(s, lang)).unwrap_or_else(|| ctx.t(Msg::Overdue).into())) }
                                } @else {
                                    (a["seconds_left"].as_i64().map(|s| hours_left(s, lang)).unwrap_or_else(|| "—".into()))
                                }
                            }
                            td {
                                @if a["status"] == "open" {
                                    form.inline method="post" action={ "/alerts/" (id) "/ack" } {
                                        (csrf_field(&user))
                                        button type="submit" aria-label={ (ctx.t(Msg::Acknowledge)) " " (short_case(&a["case_id"])) } { (ctx.t(Msg::Acknowledge)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(ctx, ctx.t(Msg::Inbox), notice_of(&q), body),
    )
}

fn alert_kind(kind: Option<&str>, lang: Lang) -> &'static str {
    match kind {
        Some("assessment") => Msg::KindNew,
        Some("copy") => Msg::KindCopy,
        Some("transfer_in") => Msg::KindTransferIn,
        Some("escalation") => Msg::KindEscalation,
        Some("maternal_death") => Msg::KindDeath,
        Some("lost_to_follow_up") => Msg::KindLost,
        _ => Msg::KindOther,
    }
    .text(lang)
}

/// A case id shortened for display (the full id is in the link).
fn short_case(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default();
    match s.char_indices().nth(14) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

async fn acknowledge(
    State(state): State<WebState>,
    Path(alert_id): Path<String>,
    f: CsrfForm<Empty>,
) -> Response {
    let uri = format!("/v1/alerts/{}/ack", enc(&alert_id));
    match api::call(&state, &f.user.session.principal, Method::POST, &uri, None).await {
        Ok(_) => see_other("/inbox?done=ack"),
        Err(e) => failed(f.user.ctx.lang, &e),
    }
}

// ---------------------------------------------------------------------------------------
// Case page

async fn case_page(
    State(state): State<WebState>,
    user: SignedIn,
    Path(case_id): Path<String>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let uri = format!("/v1/cases/{}", enc(&case_id));
    let view = match api::call(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    let timeline = api::call(
        &state,
        &user.session.principal,
        Method::GET,
        &format!("/v1/cases/{}/timeline", enc(&case_id)),
        None,
    )
    .await
    .ok();
    // The API answered, so this principal may see the case: its grading history too.
    let grading = match contracts::CaseId::parse(case_id.as_str()) {
        Ok(case) => state.warning.grading(&case).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading a case's grading");
            None
        }),
        Err(_) => None,
    };
    let a = &view["assessment"];
    let body = html! {
        section.card id="grade" aria-labelledby="h-grade" {
            h2 id="h-grade" { (ctx.t(Msg::CurrentGrade)) }
            p.big { (grade_badges(a, "colour", "infectious", lang)) }
            dl.facts {
                dt { (ctx.t(Msg::Case)) } dd { code { (text(&view["case_id"])) } }
                dt { (ctx.t(Msg::Status)) } dd { (if view["status"] == "closed" { ctx.t(Msg::StatusClosedCase) } else { ctx.t(Msg::StatusOpenCase) }) }
                dt { (ctx.t(Msg::District)) } dd { (district_name(&state, &view["residence_district"], lang)) }
                dt { (ctx.t(Msg::Score)) } dd { (text(&a["score"])) }
                dt { (ctx.t(Msg::AssessedAt)) } dd { (local(&state, &a["assessed_at"])) }
                dt { (ctx.t(Msg::HighRisk)) } dd { (if a["high_risk"].as_bool().unwrap_or(false) { ctx.t(Msg::Yes) } else { ctx.t(Msg::No) }) }
                @if let Some(r) = a["high_risk_reasons"].as_array().filter(|r| !r.is_empty()) {
                    dt { (ctx.t(Msg::HighRiskReasons)) } dd { @for x in r { (reason(x, lang)) " " } }
                }
            }
        }
        section.card id="findings" aria-labelledby="h-findings" {
            h2 id="h-findings" { (ctx.t(Msg::Findings)) }
            (findings_table(&state, ctx, &a["findings"]))
        }
        section.card id="history" aria-labelledby="h-history" {
            h2 id="h-history" { (ctx.t(Msg::GradingHistory)) }
            @match grading.as_ref().and_then(|g| g["history"].as_array()) {
                Some(h) if !h.is_empty() => {
                    table.list {
                        thead { tr {
                            th scope="col" { (ctx.t(Msg::AssessedAt)) }
                            th scope="col" { (ctx.t(Msg::Colour)) }
                            th scope="col" { (ctx.t(Msg::Score)) }
                            th scope="col" { (ctx.t(Msg::Institution)) }
                        } }
                        tbody { @for e in h.iter().rev() { tr {
                            td { (local(&state, &e["assessed_at"])) }
                            td { (grade_badges(&e["grade"], "colour", "infectious", lang)) }
                            td { (text(&e["grade"]["score"])) }
                            td { (institution_name(&state, &e["institution"], lang)) }
                        } } }
                    }
                }
                _ => { p.empty { (ctx.t(Msg::NoRows)) } }
            }
        }
        section.card id="cards" aria-labelledby="h-cards" {
            h2 id="h-cards" { (ctx.t(Msg::Cards)) }
            table.list {
                thead { tr {
                    th scope="col" { (ctx.t(Msg::CardId)) }
                    th scope="col" { (ctx.t(Msg::AssessedAt)) }
                    th scope="col" { (ctx.t(Msg::ReceivedAt)) }
                    th scope="col" { (ctx.t(Msg::Institution)) }
                    th scope="col" { (ctx.t(Msg::Findings)) }
                    th scope="col" { (ctx.t(Msg::Critical)) }
                } }
                tbody { @for c in view["cards"].as_array().into_iter().flatten() { tr {
                    td { (text(&c["card_id"])) }
                    td { (local(&state, &c["assessed_at"])) }
                    td { (local(&state, &c["received_at"])) }
                    td { (institution_name(&state, &c["institution"], lang)) }
                    td { @for f in c["findings"].as_array().into_iter().flatten() { code { (text(f)) } " " } }
                    td { (if c["critical"].as_bool().unwrap_or(false) { ctx.t(Msg::Yes) } else { ctx.t(Msg::No) }) }
                } } }
            }
        }
        @if view["outcome"].is_object() {
            section.card id="outcome" aria-labelledby="h-outcome" {
                h2 id="h-outcome" { (ctx.t(Msg::Outcome)) }
                p { (text(&view["outcome"]["outcome"])) " · " (local(&state, &view["outcome"]["occurred_at"])) }
            }
        }
        section.card id="timeline" aria-labelledby="h-timeline" {
            h2 id="h-timeline" { (ctx.t(Msg::Timeline)) }
            @match timeline.as_ref().and_then(|t| t["events"].as_array()).filter(|e| !e.is_empty()) {
                Some(events) => {
                    table.list {
                        thead { tr {
                            th scope="col" { (ctx.t(Msg::Time)) }
                            th scope="col" { (ctx.t(Msg::Event)) }
                            th scope="col" { (ctx.t(Msg::Institution)) }
                            th scope="col" { (ctx.t(Msg::Actor)) }
                        } }
                        tbody { @for e in events { tr {
                            td { (local(&state, &e["occurred_at"])) }
                            td { (text(&e[if lang == Lang::Zh { "zh" } else { "en" }])) }
                            td { (institution_name(&state, &e["institution"], lang)) }
                            td { small { (text(&e["actor"])) } }
                        } } }
                    }
                }
                None => { p.empty { (ctx.t(Msg::NoEvents)) } }
            }
        }
    };
    html_response(StatusCode::OK, page(ctx, ctx.t(Msg::CasePage), None, body))
}

/// One reason she is high-risk: her colour, the infectious flag, or a score over the line.
fn reason(r: &Value, lang: Lang) -> Markup {
    match r["kind"].as_str() {
        Some("colour") => badge(
            r["colour"].as_str().and_then(|c| Colour::parse(c).ok()),
            lang,
        ),
        Some("infectious") => badge(Some(Colour::Purple), lang),
        Some("score") => html! {
            span.tag { (Msg::Score.text(lang)) " " (text(&r["points"])) " ≥ " (text(&r["min_score"])) }
        },
        _ => html! { span.tag { (text(r)) } },
    }
}

fn findings_table(state: &WebState, ctx: &Ctx, findings: &Value) -> Markup {
    let lang = ctx.lang;
    let codes: Vec<&str> = findings
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().or_else(|| f["code"].as_str()))
        .collect();
    if codes.is_empty() {
        return html! { p.empty { (ctx.t(Msg::NoRows)) } };
    }
    html! {
        table.list {
            thead { tr {
                th scope="col" { (ctx.t(Msg::Colour)) }
                th scope="col" { (ctx.t(Msg::Code)) }
                th scope="col" { (ctx.t(Msg::Condition)) }
            } }
            tbody { @for code in codes {
                @let entry = state.catalogues.five_colour().iter().find(|e| e.code == code);
                tr {
                    td { (badge(entry.map(|e| e.colour), lang)) }
                    td { code { (code) } }
                    td { (entry.map(|e| if lang == Lang::Zh { e.condition_zh.as_str() } else { e.condition_en.as_str() }).unwrap_or("—")) }
                }
            } }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Follow-up worklist

fn current_month(state: &WebState) -> String {
    let now = state.clock.now().to_offset(state.settings.display_offset);
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

fn valid_month(s: &str) -> bool {
    s.len() == 7
        && s.as_bytes()[4] == b'-'
        && s.bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit())
}

fn worklist_district(user: &SignedIn, q: &HashMap<String, String>) -> String {
    q.get("district")
        .cloned()
        .unwrap_or_else(|| user.session.principal.district.to_string())
}

async fn worklist(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let month = q
        .get("month")
        .filter(|m| valid_month(m))
        .cloned()
        .unwrap_or_else(|| current_month(&state));
    let district = worklist_district(&user, &q);
    let mut uri = format!("/v1/worklists/{}/{}?limit=100", enc(&district), enc(&month));
    if let Some(a) = q.get("after") {
        uri.push_str(&format!("&after={}", enc(a)));
    }
    let answer = match api::call(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    let back = format!("/worklist?month={month}&district={district}");
    let export = |format: &str| {
        format!("/worklist/export?month={month}&district={district}&format={format}")
    };
    let body = html! {
        form.filters method="get" action="/worklist" {
            label for="month" { (ctx.t(Msg::Month)) }
            input id="month" type="month" name="month" value=(month);
            input type="hidden" name="district" value=(district);
            button type="submit" { (ctx.t(Msg::Show)) }
            a.button href=(export("csv")) { (ctx.t(Msg::ExportCsv)) }
            a.button href=(export("xlsx")) { (ctx.t(Msg::ExportXlsx)) }
        }
        @if rows.is_empty() {
            p.empty { (ctx.t(Msg::NoRows)) }
        } @else {
            table.list id="worklist" {
                thead { tr {
                    th scope="col" { (ctx.t(Msg::Colour)) }
                    th scope="col" { (ctx.t(Msg::Name)) }
                    th scope="col" { (ctx.t(Msg::Phone)) }
                    th scope="col" { (ctx.t(Msg::GestationalAge)) }
                    th scope="col" { (ctx.t(Msg::ItemKind)) }
                    th scope="col" { (ctx.t(Msg::DueDate)) }
                    th scope="col" { (ctx.t(Msg::Status)) }
                    th scope="col" { (ctx.t(Msg::Attempts)) }
                    th scope="col" { (ctx.t(Msg::LastContact)) }
                    th scope="col" { (ctx.t(Msg::RecordOutcome)) }
                } }
                tbody {
                    @for r in &rows {
                        @let item = r["item_id"].as_str().unwrap_or_default();
                        @let overdue = r["overdue"].as_bool().unwrap_or(false);
                        tr.overdue[overdue] id={ "item-" (item) } data-item=(item) {
                            td { (grade_badges(r, "colour", "purple", lang)) }
                            td { a href={ "/cases/" (r["case_id"].as_str().unwrap_or_default()) } { (text(&r["name"])) } }
                            td { (text(&r["phone"])) }
                            td { (text(&r["gestational_age"])) }
                            td { (item_kind(r["kind"].as_str(), lang)) }
                            td { (text(&r["due_date"])) @if overdue { " " strong.overdue-text { "⚠ " (ctx.t(Msg::Overdue)) } } }
                            td { (item_status(r["status"].as_str(), lang)) }
                            td { (text(&r["attempts"])) }
                            td { (contact_outcome(r["last_contact_outcome"].as_str(), lang)) }
                            td {
                                @if r["status"] == "open" {
                                    (outcome_form(&user, item, &back))
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = answer["next"].as_str() {
                p { a href={ (back) "&after=" (enc(next)) } { (ctx.t(Msg::NextPage)) " →" } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(ctx, ctx.t(Msg::Worklist), notice_of(&q), body),
    )
}

const OUTCOMES: [(&str, Msg); 6] = [
    ("reached", Msg::OutReached),
    ("not_reached", Msg::OutNotReached),
    ("wrong_number", Msg::OutWrongNumber),
    ("moved_away", Msg::OutMovedAway),
    ("pregnancy_ended", Msg::OutPregnancyEnded),
    ("declined", Msg::OutDeclined),
];

fn outcome_form(user: &SignedIn, item: &str, back: &str) -> Markup {
    let ctx = &user.ctx;
    html! {
        form.outcome method="post" action={ "/follow-ups/" (item) "/outcome" } {
            (csrf_field(user))
            input type="hidden" name="request_id" value=(Uuid::new_v4());
            input type="hidden" name="back" value=(back);
            label for={ "outcome-" (item) } { (ctx.t(Msg::CallOutcome)) }
            select id={ "outcome-" (item) } name="outcome" {
                @for (v, m) in OUTCOMES { option value=(v) { (m.text(ctx.lang)) } }
            }
            label for={ "note-" (item) } { (ctx.t(Msg::Note)) }
            input id={ "note-" (item) } type="text" name="note" maxlength="2000";
            label for={ "nd-" (item) } { (ctx.t(Msg::NewDistrict)) }
            input id={ "nd-" (item) } type="text" name="new_district" inputmode="numeric" pattern="[0-9]{6}" size="6";
            button type="submit" { (ctx.t(Msg::Save)) }
        }
    }
}

fn item_kind(kind: Option<&str>, lang: Lang) -> &'static str {
    match kind {
        Some("phone_call") => Msg::KindPhoneCall,
        Some("face_to_face") => Msg::KindFaceToFace,
        Some("postpartum_visit") => Msg::KindPostpartum,
        Some("postnatal_check") => Msg::KindPostnatal,
        Some("outcome_unknown") => Msg::KindOutcomeUnknown,
        _ => Msg::Nothing,
    }
    .text(lang)
}

fn item_status(s: Option<&str>, lang: Lang) -> &'static str {
    match s {
        Some("open") => Msg::ItemOpen,
        Some("done") => Msg::ItemDone,
        Some("closed") => Msg::ItemClosed,
        _ => Msg::Nothing,
    }
    .text(lang)
}

fn contact_outcome(s: Option<&str>, lang: Lang) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(v, _)| Some(*v) == s)
        .map_or(Msg::Nothing, |(_, m)| *m)
        .text(lang)
}

async fn worklist_export(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = user.ctx.lang;
    let month = q
        .get("month")
        .filter(|m| valid_month(m))
        .cloned()
        .unwrap_or_else(|| current_month(&state));
    let format = if q.get("format").map(String::as_str) == Some("xlsx") {
        "xlsx"
    } else {
        "csv"
    };
    let district = worklist_district(&user, &q);
    let uri = format!(
        "/v1/worklists/{}/{}?format={format}",
        enc(&district),
        enc(&month)
    );
    match api::call_raw(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(raw) => passthrough(raw),
        Err(f) => failed(lang, &f),
    }
}

fn passthrough(raw: api::Raw) -> Response {
    let mut res = raw.body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for h in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
        if let Some(v) = raw.headers.get(&h) {
            res.headers_mut().insert(h, v.clone());
        }
    }
    res
}

#[derive(Deserialize)]
struct OutcomeForm {
    request_id: Uuid,
    outcome: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    new_district: String,
    #[serde(default)]
    back: String,
}

async fn record_outcome(
    State(state): State<WebState>,
    Path(item): Path<String>,
    f: CsrfForm<OutcomeForm>,
) -> Response {
    let form = f.form;
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let body = json!({
        "request_id": form.request_id,
        "outcome": form.outcome,
        "note": non_empty(&form.note),
        "new_district": non_empty(&form.new_district),
    });
    let uri = format!("/v1/follow-ups/{}/outcome", enc(&item));
    match api::call(
        &state,
        &f.user.session.principal,
        Method::POST,
        &uri,
        Some(&body),
    )
    .await
    {
        Ok(_) => {
            let back = local_path(Some(&form.back), "/worklist");
            let sep = if back.contains('?') { '&' } else { '?' };
            see_other(&format!("{back}{sep}done=outcome"))
        }
        Err(e) => failed(f.user.ctx.lang, &e),
    }
}

// ---------------------------------------------------------------------------------------
// Registers

const REGISTERS: [(&str, Msg); 3] = [
    ("high-risk", Msg::RegHighRisk),
    ("red", Msg::RegRed),
    ("not-suitable", Msg::RegNotSuitable),
];

async fn register(
    State(state): State<WebState>,
    user: SignedIn,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let Some((reg, title)) = REGISTERS.iter().find(|(r, _)| *r == name).copied() else {
        return error_page(lang, StatusCode::NOT_FOUND, Msg::ErrNotFound, None);
    };
    let district = worklist_district(&user, &q);
    let uri = format!("/v1/registers/{}/{reg}", enc(&district));
    if q.get("format").map(String::as_str) == Some("csv") {
        return match api::call_raw(
            &state,
            &user.session.principal,
            Method::GET,
            &format!("{uri}?format=csv"),
            None,
        )
        .await
        {
            Ok(raw) => passthrough(raw),
            Err(f) => failed(lang, &f),
        };
    }
    let answer = match api::call(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    let body = html! {
        nav.tabs aria-label=(ctx.t(Msg::Registers)) {
            @for (r, m) in REGISTERS {
                a href={ "/registers/" (r) } aria-current=[(r == reg).then_some("page")] { (m.text(lang)) }
            }
        }
        p { a.button href={ "/registers/" (reg) "?format=csv&district=" (district) } { (ctx.t(Msg::ExportCsv)) } }
        @if rows.is_empty() {
            p.empty { (ctx.t(Msg::NoRows)) }
        } @else {
            table.list id="register" {
                @match reg {
                    "high-risk" => {
                        thead { tr {
                            th scope="col" { (ctx.t(Msg::Colour)) } th scope="col" { (ctx.t(Msg::Case)) }
                            th scope="col" { (ctx.t(Msg::Score)) } th scope="col" { (ctx.t(Msg::HighRiskSince)) }
                            th scope="col" { (ctx.t(Msg::LastAssessed)) } th scope="col" { (ctx.t(Msg::Institution)) }
                            th scope="col" { (ctx.t(Msg::Assessments)) }
                        } }
                        tbody { @for r in &rows { tr {
                            td { (grade_badges(r, "colour", "infectious", lang)) }
                            td { (case_link(&r["case_id"])) }
                            td { (text(&r["score"])) }
                            td { (local(&state, &r["high_risk_since"])) }
                            td { (local(&state, &r["last_assessed_at"])) }
                            td { (institution_name(&state, &r["institution"], lang)) }
                            td { (text(&r["assessments"])) }
                        } } }
                    }
                    "red" => {
                        thead { tr {
                            th scope="col" { (ctx.t(Msg::CurrentGrade)) } th scope="col" { (ctx.t(Msg::Case)) }
                            th scope="col" { (ctx.t(Msg::RedAssessments)) }
                        } }
                        tbody { @for r in &rows { tr {
                            td { (grade_badges(r, "current_colour", "infectious", lang)) }
                            td { (case_link(&r["case_id"])) }
                            td { @for t in r["red_assessments"].as_array().into_iter().flatten() { (local(&state, t)) br; } }
                        } } }
                    }
                    _ => {
                        thead { tr {
                            th scope="col" { (ctx.t(Msg::Case)) } th scope="col" { (ctx.t(Msg::JudgedBy)) }
                            th scope="col" { (ctx.t(Msg::AssessedAt)) } th scope="col" { (ctx.t(Msg::Reason)) }
                            th scope="col" { (ctx.t(Msg::FollowedBy)) }
                        } }
                        tbody { @for r in &rows { @for j in r["judgements"].as_array().into_iter().flatten() { tr {
                            td { (case_link(&r["case_id"])) }
                            td { (text(&j["judged_by"])) " (" (text(&j["title"])) ")" }
                            td { (local(&state, &j["judged_at"])) }
                            td { (text(&j["reason"])) }
                            td { (text(&j["followed_by"])) }
                        } } } }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page(ctx, title.text(lang), None, body))
}

fn case_link(v: &Value) -> Markup {
    html! { a href={ "/cases/" (v.as_str().unwrap_or_default()) } { (short_case(v)) } }
}

// ---------------------------------------------------------------------------------------
// Referral board (rescue centres, sending hospitals, offices)

async fn referrals(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let answer = match api::call(
        &state,
        &user.session.principal,
        Method::GET,
        "/v1/referrals?status=active",
        None,
    )
    .await
    {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    let rows = answer["referrals"].as_array().cloned().unwrap_or_default();
    let me = &user.session.principal;
    let body = html! {
        @if rows.is_empty() {
            p.empty { (ctx.t(Msg::NoReferrals)) }
        } @else {
            @for r in &rows {
                @let id = r["referral_id"].as_str().unwrap_or_default();
                @let since = r["minutes_since_opening"].as_i64().unwrap_or(0).max(0) as u64;
                article.card.referral data-referral=(id) aria-labelledby={ "ref-" (id) } {
                    h2 id={ "ref-" (id) } {
                        (referral_status(r["status"].as_str(), lang))
                        " · " (ctx.t(Msg::SinceOpening)) " " (duration(since * 60, lang))
                    }
                    dl.facts {
                        dt { (ctx.t(Msg::OpenedAt)) } dd { (local(&state, &r["opened_at"])) }
                        dt { (ctx.t(Msg::Sender)) } dd { (institution_name(&state, &r["sending_institution"], lang)) }
                        dt { (ctx.t(Msg::District)) } dd { (district_name(&state, &r["residence_district"], lang)) }
                        dt { (ctx.t(Msg::Diagnosis)) } dd { (text(&r["diagnosis"])) }
                        dt { (ctx.t(Msg::Reason)) } dd { (text(&r["reason"])) }
                        @if r["status"] == "awaiting_acceptance" {
                            dt { (ctx.t(Msg::AcceptanceDeadline)) }
                            dd { (r["minutes_to_acceptance_deadline"].as_i64().map(|m| hours_left(m * 60, lang)).unwrap_or_else(|| "—".into())) }
                        }
                        @if !r["accepted_by"].is_null() {
                            dt { (ctx.t(Msg::RefAccepted)) } dd { (institution_name(&state, &r["accepted_by"], lang)) " · " (text(&r["receiving_doctor"])) " · " (local(&state, &r["accepted_at"])) }
                        }
                        @if !r["departed_at"].is_null() { dt { (ctx.t(Msg::Departed)) } dd { (local(&state, &r["departed_at"])) } }
                        @if !r["arrived_at"].is_null() { dt { (ctx.t(Msg::Arrived)) } dd { (local(&state, &r["arrived_at"])) } }
                        @if !r["outcome"].is_null() { dt { (ctx.t(Msg::FeedbackFiled)) } dd { (text(&r["outcome"])) } }
                    }
                    (referral_forms(&user, me, r, id))
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(ctx, ctx.t(Msg::Referrals), notice_of(&q), body),
    )
}

fn referral_status(s: Option<&str>, lang: Lang) -> &'static str {
    match s {
        Some("awaiting_acceptance") => Msg::RefAwaiting,
        Some("accepted") => Msg::RefAccepted,
        Some("closed") => Msg::RefClosed,
        _ => Msg::Nothing,
    }
    .text(lang)
}

/// The forms a principal may use on a referral (the API decides in the end).
fn referral_forms(user: &SignedIn, me: &Principal, r: &Value, id: &str) -> Markup {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let mine = r["accepted_by"].as_str() == Some(me.institution.as_str());
    let f = |step: &str, fields: Markup, submit: Msg| {
        html! {
            form.step method="post" action={ "/referrals/" (id) "/" (step) } {
                (csrf_field(user))
                (fields)
                button type="submit" { (submit.text(lang)) }
            }
        }
    };
    let field = |name: &str, label: Msg, required: bool| {
        html! {
            label for={ (name) "-" (id) } { (label.text(lang)) }
            input id={ (name) "-" (id) } type="text" name=(name) required[required];
        }
    };
    let select = |name: &str, label: Msg, options: &[(&str, Msg)]| {
        html! {
            label for={ (name) "-" (id) } { (label.text(lang)) }
            select id={ (name) "-" (id) } name=(name) {
                @for (v, m) in options { option value=(*v) { (m.text(lang)) } }
            }
        }
    };
    html! {
        @if me.role == Role::RescueCentre && r["may_accept"].as_bool().unwrap_or(false) {
            (f("accept", field("receiving_doctor", Msg::ReceivingDoctor, true), Msg::Accept))
        }
        @if me.role == Role::Hospital && r["status"] == "accepted" && r["departed_at"].is_null() {
            (f("depart", html! {
                (field("escort", Msg::Escort, true))
                (select("transport", Msg::Transport, &[("ambulance", Msg::TrAmbulance), ("private_vehicle", Msg::TrPrivate), ("air", Msg::TrAir), ("other", Msg::TrOther)]))
            }, Msg::Depart))
        }
        @if me.role == Role::RescueCentre && mine && r["arrived_at"].is_null() {
            (f("arrive", field("received_by", Msg::ReceivedBy, true), Msg::Arrive))
        }
        @if me.role == Role::RescueCentre && mine && !r["arrived_at"].is_null() && r["outcome"].is_null() {
            (f("feedback", html! {
                (field("diagnosis", Msg::Diagnosis, true))
                (field("treatment", Msg::Treatment, true))
                (select("outcome", Msg::RescueOutcome, &[("rescued", Msg::OcRescued), ("rescue_failed", Msg::OcFailed), ("dead_on_arrival", Msg::OcDoa)]))
                (select("timeliness", Msg::Timeliness, &[("timely", Msg::TmTimely), ("delayed", Msg::TmDelayed), ("to_be_corrected", Msg::TmCorrect)]))
                (field("note", Msg::Note, false))
            }, Msg::Feedback))
        }
    }
}

async fn referral_step(
    State(state): State<WebState>,
    Path((id, step)): Path<(String, String)>,
    f: CsrfForm<HashMap<String, String>>,
) -> Response {
    let lang = f.user.ctx.lang;
    let get = |k: &str| {
        f.form
            .get(k)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let opt = |k: &str| Some(get(k)).filter(|s| !s.is_empty());
    let body = match step.as_str() {
        "accept" => json!({ "receiving_doctor": get("receiving_doctor") }),
        "depart" => json!({ "escort": get("escort"), "transport": opt("transport") }),
        "arrive" => json!({ "received_by": get("received_by") }),
        "feedback" => json!({
            "diagnosis": get("diagnosis"), "treatment": get("treatment"),
            "outcome": get("outcome"), "timeliness": get("timeliness"), "note": opt("note"),
        }),
        _ => return error_page(lang, StatusCode::NOT_FOUND, Msg::ErrNotFound, None),
    };
    let uri = format!("/v1/referrals/{}/{step}", enc(&id));
    match api::call(
        &state,
        &f.user.session.principal,
        Method::POST,
        &uri,
        Some(&body),
    )
    .await
    {
        Ok(_) => see_other("/referrals?done=referral"),
        Err(e) => failed(lang, &e),
    }
}

// ---------------------------------------------------------------------------------------
// Indicators (the review crate's, with a server-side SVG bar chart)

const RATIOS: [(&str, Msg); 6] = [
    ("high_risk_management", Msg::IndManagement),
    ("on_time_reporting", Msg::IndOnTime),
    ("follow_up", Msg::IndFollowUp),
    ("in_hospital_delivery", Msg::IndInHospital),
    ("red_share", Msg::IndRedShare),
    ("orange_share", Msg::IndOrangeShare),
];

async fn indicators(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = &user.ctx;
    let lang = ctx.lang;
    let district = worklist_district(&user, &q);
    let base = format!("/v1/indicators/{}", enc(&district));
    let today = state
        .clock
        .now()
        .to_offset(state.settings.display_offset)
        .date()
        .to_string();
    let asked: Option<i32> = q.get("year").and_then(|y| y.parse().ok());
    let year = asked.unwrap_or_else(|| state.clock.now().year());
    let call = |y: i32| {
        let uri = format!("{base}?year={y}");
        let state = state.clone();
        let p = user.session.principal.clone();
        async move { api::call(&state, &p, Method::GET, &uri, None).await }
    };
    let mut answer = match call(year).await {
        Ok(v) => v,
        Err(f) => return failed(lang, &f),
    };
    // No year asked: the statistical year that holds today (the review policy says where
    // a year ends; when the one ending this calendar year is over, take the next).
    let mut year = year;
    if asked.is_none() && answer["to"].as_str().is_some_and(|to| to < today.as_str()) {
        year += 1;
        answer = match call(year).await {
            Ok(v) => v,
            Err(f) => return failed(lang, &f),
        };
    }
    let ratio = |k: &str| &answer[k];
    let pct = |v: &Value| v["value"].as_f64().map(|x| x * 100.0);
    let gc = &answer["green_channel"];
    let body = html! {
        form.filters method="get" action="/indicators" {
            label for="year" { (ctx.t(Msg::StatYear)) }
            input id="year" type="number" name="year" value=(year) min="2000" max="2100";
            input type="hidden" name="district" value=(district);
            button type="submit" { (ctx.t(Msg::Show)) }
            a.button href={ "/indicators/export?year=" (year) "&district=" (district) } { (ctx.t(Msg::ExportCsv)) }
        }
        p { (ctx.t(Msg::Period)) ": " (text(&answer["from"])) " — " (text(&answer["to"])) " · " (district_name(&state, &json!(district), lang)) }
        section.card aria-labelledby="h-chart" {
            h2 id="h-chart" { (ctx.t(Msg::IndChart)) }
            (bar_chart(&RATIOS.iter().map(|(k, m)| (m.text(lang), pct(ratio(k)))).collect::<Vec<_>>(), lang))
        }
        table.list id="indicators" {
            thead { tr {
                th scope="col" { (ctx.t(Msg::Indicator)) }
                th scope="col" { (ctx.t(Msg::Numerator)) }
                th scope="col" { (ctx.t(Msg::Denominator)) }
                th scope="col" { (ctx.t(Msg::Value)) }
            } }
            tbody {
                @for (k, m) in RATIOS { tr {
                    th scope="row" { (m.text(lang)) }
                    td { (text(&ratio(k)["numerator"])) }
                    td { (text(&ratio(k)["denominator"])) }
                    td { (pct(ratio(k)).map(|p| format!("{p:.1}%")).unwrap_or_else(|| "—".into())) }
                } }
                tr { th scope="row" { (ctx.t(Msg::IndLost)) } td colspan="3" { (text(&answer["lost_to_follow_up"])) } }
                tr { th scope="row" { (ctx.t(Msg::GcReferrals)) } td colspan="3" { (text(&gc["referrals"])) } }
                tr { th scope="row" { (ctx.t(Msg::GcToAccept)) } td colspan="3" { (text(&gc["opened_to_accepted"]["minutes"])) } }
                tr { th scope="row" { (ctx.t(Msg::GcTransit)) } td colspan="3" { (text(&gc["departed_to_arrived"]["minutes"])) } }
                tr { th scope="row" { (ctx.t(Msg::GcEscalations)) } td colspan="3" { (text(&gc["escalations"])) } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(ctx, ctx.t(Msg::Indicators), None, body),
    )
}

/// A horizontal SVG bar chart of percentages (0–100), each bar labelled with its name and
/// its value as text (an empty denominator reads "—").
fn bar_chart(bars: &[(&str, Option<f64>)], lang: Lang) -> Markup {
    const LABEL_W: f64 = 230.0;
    const BAR_W: f64 = 420.0;
    const ROW_H: f64 = 30.0;
    let height = ROW_H * bars.len() as f64 + 10.0;
    let title = Msg::IndChart.text(lang);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            viewBox={ "0 0 " (LABEL_W + BAR_W + 80.0) " " (height) } width="100%" {
            title { (title) }
            @for (i, (name, value)) in bars.iter().enumerate() {
                @let y = 5.0 + ROW_H * i as f64;
                @let w = value.map_or(0.0, |v| BAR_W * v.clamp(0.0, 100.0) / 100.0);
                text x="0" y=(y + 19.0) font-size="14" { (name) }
                rect x=(LABEL_W) y=(y + 4.0) width=(BAR_W) height="20" fill="#eef1f6" stroke="#d6dae3" {}
                rect x=(LABEL_W) y=(y + 4.0) width=(w) height="20" fill="#1f5fa8" {}
                text x=(LABEL_W + BAR_W + 6.0) y=(y + 19.0) font-size="14" {
                    (value.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into()))
                }
            }
        }
    }
}

async fn indicators_export(
    State(state): State<WebState>,
    user: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let district = worklist_district(&user, &q);
    let year: i32 = q
        .get("year")
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| state.clock.now().year());
    let uri = format!("/v1/indicators/{}?year={year}&format=csv", enc(&district));
    match api::call_raw(&state, &user.session.principal, Method::GET, &uri, None).await {
        Ok(raw) => passthrough(raw),
        Err(f) => failed(user.ctx.lang, &f),
    }
}

/// The registers' landing page is the high-risk register.
async fn registers_home() -> Response {
    see_other("/registers/high-risk")
}
