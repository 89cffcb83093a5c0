//! The web UI: plain server-rendered pages in Simplified Chinese (English on a switch) for
//! district MCH offices, follow-up staff and rescue centres: sign-in with an API key, the
//! alert inbox, the case page, the monthly follow-up worklist, the registers and the
//! green-channel referral board. `web::router(WebState)` is merged into the `referral`
//! binary's router.
//!
//! What it owns: sessions and CSRF ([`session`]), the message table ([`i18n`]), the pages
//! ([`pages`]) and their markup (maud: compile-time checked templates, no template files,
//! no front-end build step, no JavaScript), and the bridge to the JSON API ([`api`]).
//!
//! What it deliberately does not own: any business rule, scoping rule or SQL. Every read and
//! every action goes, in-process, through the same routers the JSON API serves (`/v1/…`),
//! with the signed-in principal attached ([`edge::Authenticated`]); so a page shows exactly
//! what the API would show that principal and refuses exactly what the API refuses. It
//! never logs a name, phone, ID number, key or session token.

pub mod api;
pub mod i18n;
pub mod pages;
pub mod session;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use contracts::Clock;
use eventstore::Store;
use i18n::{Lang, Msg};
use serde::de::DeserializeOwned;
use session::{Session, LANG_COOKIE, SESSION_COOKIE};
use std::sync::Arc;
use time::UtcOffset;

/// Settings of the UI (from the service's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// How long a session lasts after sign-in.
    pub session_ttl: time::Duration,
    /// Whether cookies carry `Secure` (set it when served over HTTPS).
    pub secure_cookies: bool,
    /// The offset local times are shown in (the region's calendar: China UTC+8).
    pub display_offset: UtcOffset,
}

/// What the pages need.
#[derive(Clone)]
pub struct WebState {
    /// The store (sessions, API keys).
    pub store: Store,
    /// The JSON API routers (`/v1/…`), called in-process with the signed-in principal.
    pub api: Router,
    /// The clock (current month, times shown).
    pub clock: Arc<dyn Clock>,
    /// Districts and institutions (names).
    pub reference: Arc<reference::ReferenceData>,
    /// The catalogues (the text of each finding).
    pub catalogues: Arc<scoring::Catalogues>,
    /// The warning service (a case's grading history).
    pub warning: warning::Warning<Store>,
    /// Settings.
    pub settings: WebSettings,
}

impl FromRef<WebState> for Store {
    fn from_ref(s: &WebState) -> Store {
        s.store.clone()
    }
}

/// The UI's router: `/`, `/signin`, `/signout`, `/inbox`, `/alerts/{id}/ack`,
/// `/cases/{id}`, `/worklist`, `/worklist/export`, `/follow-ups/{id}/outcome`,
/// `/registers/{name}`, `/referrals`, `/referrals/{id}/{step}`, `/indicators`,
/// `/static/style.css`. Leaves `/v1/*`, `/healthz`, `/readyz` and `/metrics` alone.
pub fn router(state: WebState) -> Router {
    pages::routes().with_state(state)
}

/// The language of a request: `?lang=` first, then the cookie, else Chinese.
pub fn request_lang(parts: &Parts) -> Lang {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    from_query
        .or_else(|| {
            cookie_header(parts)
                .and_then(|h| session::cookie(h, LANG_COOKIE))
                .and_then(Lang::parse)
        })
        .unwrap_or_default()
}

fn cookie_header(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
}

/// The page context: language, the path (for the language switch) and, when signed in, the
/// session.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The language.
    pub lang: Lang,
    /// The request path (without query).
    pub path: String,
    /// The session, when signed in.
    pub session: Option<Session>,
    /// The signed-in institution's name (reference data), in the page's language.
    pub who: Option<String>,
}

impl Ctx {
    /// A message in this page's language.
    pub fn t(&self, m: Msg) -> &'static str {
        m.text(self.lang)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx
where
    WebState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = WebState::from_ref(state);
        let lang = request_lang(parts);
        let token = cookie_header(parts).and_then(|h| session::cookie(h, SESSION_COOKIE));
        let session = match token {
            Some(t) => session::load(&state.store, t).await.map_err(|e| {
                tracing::error!(error = %e, "loading a web session");
                pages::error_page(
                    lang,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Msg::ErrUnavailable,
                    None,
                )
            })?,
            None => None,
        };
        let who = session.as_ref().map(|s| {
            let code = &s.principal.institution;
            match state.reference.institution(code) {
                Some(i) if lang == Lang::Zh => i.name_zh.clone(),
                Some(i) => i.name_en.clone(),
                None => code.to_string(),
            }
        });
        Ok(Ctx {
            lang,
            path: parts.uri.path().to_owned(),
            session,
            who,
        })
    }
}

/// A signed-in page context; anyone else is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The context.
    pub ctx: Ctx,
    /// The session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn
where
    WebState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match ctx.session.clone() {
            Some(session) => Ok(SignedIn { ctx, session }),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

/// The most a form body may hold.
pub const FORM_LIMIT: usize = 64 * 1024;

/// A form posted by a signed-in user whose `csrf` field matches the session's token; any
/// other post is refused with a 403 page before the handler runs. Every POST handler of
/// the UI takes its body through this extractor.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The signed-in context.
    pub user: SignedIn,
    /// The form's fields.
    pub form: T,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T>
where
    WebState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = SignedIn::from_request_parts(&mut parts, state).await?;
        let lang = user.ctx.lang;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            pages::error_page(lang, StatusCode::PAYLOAD_TOO_LARGE, Msg::ErrInvalid, None)
        })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| pages::error_page(lang, StatusCode::BAD_REQUEST, Msg::ErrInvalid, None))?;
        let token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        if !token.is_some_and(|t| session::same_token(t, &user.session.csrf)) {
            tracing::warn!(key_id = %user.session.principal.key_id, path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return Err(pages::error_page(
                lang,
                StatusCode::FORBIDDEN,
                Msg::ErrCsrf,
                None,
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| pages::error_page(lang, StatusCode::BAD_REQUEST, Msg::ErrInvalid, None))?;
        Ok(CsrfForm { user, form })
    }
}
