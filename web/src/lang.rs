//! Korean (the default) and English. A reader's choice is the `ward_lang` cookie, set by the
//! language link in every page's header (`GET /lang/{ko|en}`); without it, the first of
//! Korean or English in `Accept-Language` wins.
//!
//! Every text of the interface is one row of [`texts!`], so a text cannot exist in one
//! language only: a missing translation does not compile.

use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::HeaderMap;

/// The cookie holding a reader's language choice.
pub const LANG_COOKIE: &str = "ward_lang";

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 한국어, the default.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// The language a request asks for: the `ward_lang` cookie, else `Accept-Language`'s
    /// first Korean or English tag, else Korean.
    pub fn of(headers: &HeaderMap) -> Self {
        if let Some(code) = ward_platform::session::cookie(headers, LANG_COOKIE) {
            if let Some(lang) = Self::parse(code) {
                return lang;
            }
        }
        let Some(accept) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Self::Ko;
        };
        let mut tags: Vec<(f32, usize, &str)> = accept
            .split(',')
            .enumerate()
            .map(|(at, part)| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next().unwrap_or_default().trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                (q, at, tag)
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        tags.iter()
            .find_map(|(_, _, tag)| {
                let primary = tag.split('-').next().unwrap_or_default();
                Self::parse(&primary.to_ascii_lowercase())
            })
            .unwrap_or(Self::Ko)
    }

    /// `ko` or `en`.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ko" => Some(Self::Ko),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The language's code, for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ko => "ko",
            Self::En => "en",
        }
    }

    /// The other language, offered in the header.
    pub fn other(self) -> Self {
        match self {
            Self::Ko => Self::En,
            Self::En => Self::Ko,
        }
    }

    /// The language's name in itself.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ko => "한국어",
            Self::En => "English",
        }
    }

    /// The interface texts.
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::Ko => &KO,
            Self::En => &EN,
        }
    }

    /// The reader-facing name of a code the APIs use (a board, job category, tenure, kind of
    /// hospital, report reason, item state or notification kind); the code itself when it
    /// has none.
    pub fn label(self, code: &str) -> &str {
        LABELS
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(code, |(_, ko, en)| match self {
                Self::Ko => ko,
                Self::En => en,
            })
    }

    /// How many members a hospital has verified, given as the band `[min, max]` the API
    /// publishes (never an exact count): the lowest band, `[0, K)`, reads "fewer than K".
    pub fn verified_members(self, min: i64, max: i64) -> String {
        let below = max.saturating_add(1);
        match (self, min) {
            (Self::Ko, 0) => format!("인증 회원 {below}명 미만"),
            (Self::En, 0) => format!("fewer than {below} verified members"),
            (Self::Ko, _) => format!("인증 회원 {min}–{max}명"),
            (Self::En, _) => format!("{min}–{max} verified members"),
        }
    }

    /// The reader-facing message of an API error code, when the interface has its own.
    pub fn error_message(self, code: &str) -> Option<&'static str> {
        ERRORS
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, ko, en)| match self {
                Self::Ko => *ko,
                Self::En => *en,
            })
    }
}

/// Defines [`Texts`] and its Korean and English instances from one table.
macro_rules! texts {
    ($($key:ident: $ko:literal, $en:literal;)*) => {
        /// Every text of the interface in one language.
        #[derive(Debug)]
        pub struct Texts {
            $(#[allow(missing_docs)] pub $key: &'static str,)*
        }
        const KO: Texts = Texts { $($key: $ko,)* };
        const EN: Texts = Texts { $($key: $en,)* };
    };
}

texts! {
    tagline: "병원에서 일하는 사람들의 익명 커뮤니티. 누구나 읽고, 재직이 인증된 사람만 병원 리뷰를 씁니다.", "An anonymous community for people who work in hospitals. Anyone can read; only verified staff review their hospital.";
    skip_to_content: "본문으로 건너뛰기", "Skip to content";
    main_menu: "주 메뉴", "Main menu";
    home: "홈", "Home";
    hospitals: "병원", "Hospitals";
    my_page: "내 정보", "My page";
    sign_in: "로그인", "Sign in";
    sign_out: "로그아웃", "Sign out";
    privacy: "Ward가 아는 것과 모르는 것", "What Ward knows about you";
    moderation_log: "운영 기록", "Moderation log";
    boards: "게시판", "Boards";
    popular_posts: "인기 글", "Popular posts";
    posts_count: "글", "posts";
    search_hospitals: "병원 검색", "Find a hospital";
    search_hospitals_hint: "병원 이름 (예: 세브란스)", "Hospital name (e.g. 세브란스)";
    search: "검색", "Search";
    search_posts: "글 검색", "Search posts";
    search_posts_hint: "두 글자 이상", "Two characters or more";
    search_results: "검색 결과", "Search results";
    sort_new: "최신", "New";
    sort_hot: "인기", "Hot";
    sort_top: "추천", "Top";
    sort_helpful: "도움순", "Most helpful";
    sort_by: "정렬", "Sort";
    next_page: "다음 페이지", "Next page";
    first_page: "처음으로", "First page";
    no_posts: "아직 글이 없습니다.", "No posts yet.";
    write_post: "글쓰기", "Write a post";
    sign_in_to_post: "로그인하고 글쓰기", "Sign in to post";
    sign_in_to_comment: "댓글을 쓰려면 로그인하세요.", "Sign in to comment.";
    likes: "공감", "Likes";
    like: "공감", "Like";
    unlike: "공감 취소", "Unlike";
    comments: "댓글", "Comments";
    answered: "채택됨", "Answered";
    accepted_answer: "채택된 답변", "Accepted answer";
    accept_answer: "답변으로 채택", "Accept as answer";
    original_poster: "글쓴이", "Original poster";
    anonymous: "익명", "Anonymous";
    reply: "답글", "Reply";
    write_comment: "댓글 쓰기", "Write a comment";
    write_reply: "답글 쓰기", "Write a reply";
    submit_comment: "등록", "Post";
    edit: "수정", "Edit";
    delete: "삭제", "Delete";
    report: "신고", "Report";
    report_reason: "신고 사유", "Reason";
    report_note: "설명 (선택, 운영자만 봅니다)", "Note (optional, only moderators see it)";
    item_hidden: "운영 정책에 따라 숨겨진 글입니다.", "Hidden by moderation.";
    item_deleted: "삭제된 글입니다.", "Deleted.";
    comment_hidden: "숨겨진 댓글입니다.", "Hidden comment.";
    comment_deleted: "삭제된 댓글입니다.", "Deleted comment.";
    board: "게시판", "Board";
    title: "제목", "Title";
    body: "내용", "Text";
    badge: "표시할 정보", "Show with the post";
    badge_none: "아무것도 표시하지 않음", "Nothing";
    badge_job: "직군만", "My job category only";
    badge_hospital: "직군과 병원", "Job category and hospital";
    badge_hint: "병원 이름은 글을 쓰는 때에 그 병원에서 같은 직군으로 인증된 회원이 충분히 많을 때만 보입니다. 아니면 지역과 종류만, 또는 직군만 보이며, 나중에 바뀌지 않습니다.", "The hospital's name shows only if, when you post, enough staff of your job category are verified there; otherwise only the region and kind, or only the job category. It never changes afterwards.";
    publish: "올리기", "Publish";
    save: "저장", "Save";
    cancel: "취소", "Cancel";
    edit_post: "글 수정", "Edit post";
    new_post: "새 글", "New post";
    personal_data_hint: "이름, 전화번호, 주민등록번호처럼 사람을 알아볼 수 있는 정보는 쓰지 마세요.", "Do not write anything that identifies a person, such as names or phone numbers.";
    hospital_search_title: "병원 찾기", "Find a hospital";
    region: "지역", "Region";
    all_regions: "전체 지역", "All regions";
    kind: "종류", "Kind";
    all_kinds: "전체 종류", "All kinds";
    no_hospitals: "찾는 병원이 없습니다.", "No hospital matches.";
    reviews: "리뷰", "Reviews";
    reviews_count: "리뷰", "reviews";
    closed: "폐업", "Closed";
    rating_summary: "평점 요약", "Ratings";
    overall: "총점", "Overall";
    work_environment: "근무 환경", "Work environment";
    pay_benefits: "급여·복지", "Pay and benefits";
    management: "경영진", "Management";
    care_quality: "진료 수준", "Quality of care";
    work_life_balance: "워라밸", "Work-life balance";
    stars: "별점 분포", "Stars";
    would_recommend: "추천 의향", "Would recommend";
    too_few_reviews: "리뷰가 3개 이상 모이면 평점이 공개됩니다.", "Ratings appear once there are 3 reviews.";
    no_reviews: "아직 리뷰가 없습니다.", "No reviews yet.";
    write_review: "리뷰 쓰기", "Write a review";
    verify_to_review: "이 병원에 재직을 인증하면 리뷰를 쓸 수 있습니다.", "Verify that you work here to write a review.";
    claim_this_hospital: "이 병원 재직 인증하기", "I work here: verify";
    pros: "장점", "Pros";
    cons: "단점", "Cons";
    advice: "경영진에게 바라는 점", "Advice to management";
    recommend_yes: "추천합니다", "Recommends";
    recommend_no: "추천하지 않습니다", "Does not recommend";
    helpful: "도움이 돼요", "Helpful";
    filter: "필터", "Filter";
    job_category: "직군", "Job category";
    all_jobs: "전체 직군", "All job categories";
    tenure: "재직 상태", "Tenure";
    all_tenures: "전체", "All";
    apply: "적용", "Apply";
    review_form_title: "리뷰 쓰기", "Write a review";
    rating_1_5: "1–5점", "1 to 5";
    review_title: "한 줄 요약", "Summary";
    yes: "예", "Yes";
    no: "아니요", "No";
    claim_title: "재직 인증", "Verify where you work";
    claim_intro: "Ward는 당신이 이 병원에서 일한다는 사실만 확인합니다. 누가 썼는지는 글과 리뷰 어디에도 연결되지 않습니다.", "Ward checks only that you work at this hospital. Nothing you write is linked to you.";
    tenure_current: "재직 중", "I work here now";
    tenure_former: "퇴직", "I used to work here";
    submit_claim: "인증 요청", "Request verification";
    claim_state: "인증 상태", "Verification";
    verify_by_email: "업무용 이메일로 인증", "Verify with your work e-mail";
    work_email: "업무용 이메일 주소", "Work e-mail address";
    email_hint: "주소는 저장하지 않고, 코드를 보내는 데만 씁니다.", "The address is not stored; it is used only to send the code.";
    send_code: "코드 보내기", "Send the code";
    code_sent: "코드를 보냈습니다. 15분 안에 입력하세요.", "Code sent. Enter it within 15 minutes.";
    code: "인증 코드", "Code";
    confirm_code: "확인", "Confirm";
    waiting_for_moderator: "운영자의 확인을 기다리는 중입니다. 보통 이틀 안에 처리됩니다.", "Waiting for a moderator, usually within two days.";
    no_email_domain: "이 병원은 업무용 이메일 인증을 지원하지 않아 운영자가 확인합니다.", "This hospital has no work e-mail domain on file, so a moderator checks your claim.";
    my_affiliations: "내 재직 인증", "My affiliations";
    no_affiliations: "아직 인증한 병원이 없습니다. 병원 페이지에서 재직을 인증하세요.", "No affiliations yet. Verify one from a hospital's page.";
    my_activity: "내 활동", "My activity";
    no_activity: "아직 활동이 없습니다.", "Nothing yet.";
    notifications: "알림", "Notifications";
    no_notifications: "새 알림이 없습니다.", "No notifications.";
    mark_read: "모두 읽음", "Mark all read";
    withdraw: "탈퇴", "Leave Ward";
    withdraw_explain: "탈퇴하면 글, 댓글, 리뷰의 내용이 복구할 수 없게 지워지고 재직 인증이 취소됩니다.", "Leaving erases the text of your posts, comments and reviews for good and revokes your affiliations.";
    withdraw_confirm: "탈퇴를 확인합니다", "I understand; leave Ward";
    moderation_queue: "운영 대기열", "Moderation queue";
    open_claims: "대기 중인 재직 인증", "Open claims";
    no_open_claims: "대기 중인 인증이 없습니다.", "No open claims.";
    reported_items: "신고된 항목", "Reported items";
    no_reports: "처리할 신고가 없습니다.", "No reports to handle.";
    approve: "승인", "Approve";
    reject: "거절", "Reject";
    hide: "숨기기", "Hide";
    restore: "되돌리기", "Restore";
    public_note: "공개 메모", "Public note";
    reports_count: "신고", "reports";
    days_waiting: "일째 대기", "days waiting";
    moderation_log_intro: "운영자가 숨기거나 되돌린 모든 항목입니다. 운영자와 신고자는 기록되지 않습니다.", "Everything moderation hid or restored. Moderators and reporters are never named.";
    cause_automatic: "신고 누적", "Reports";
    cause_moderator: "운영자", "Moderator";
    sign_in_title: "로그인", "Sign in";
    sign_in_intro: "Ward는 로그인 제공자에게 고유 번호만 받고, 이름·이메일·전화번호는 받지 않습니다.", "Ward receives only an opaque number from the sign-in provider: no name, e-mail or phone number.";
    sign_in_with: "로그인:", "Sign in with";
    no_providers: "설정된 로그인 방법이 없습니다.", "No sign-in method is configured.";
    error_title: "문제가 생겼습니다", "Something went wrong";
    go_back: "이전 페이지로", "Go back";
    go_home: "홈으로", "Home";
    not_found_title: "페이지를 찾을 수 없습니다", "Page not found";
    too_many_title: "요청이 너무 많습니다", "Too many requests";
    error_code: "오류 코드", "Error code";
    stale_notice: "방금 쓴 내용이 반영되는 중입니다. 잠시 후 새로고침하세요.", "Your change is still on its way; reload in a moment.";
    erased: "(지워짐)", "(erased)";
    created: "작성", "Written";
    kind_post: "글", "Post";
    kind_comment: "댓글", "Comment";
    kind_review: "리뷰", "Review";
    kind_claim: "재직 인증", "Affiliation";
    privacy_title: "Ward가 아는 것과 모르는 것", "What Ward can and cannot know about you";
}

/// Reader-facing names of API codes: (code, Korean, English).
const LABELS: &[(&str, &str, &str)] = &[
    ("free", "자유게시판", "Free board"),
    ("qna", "Q&A", "Q&A"),
    ("doctor", "의사", "Doctor"),
    ("nurse", "간호사", "Nurse"),
    ("pharmacist", "약사", "Pharmacist"),
    ("medical_technician", "의료기사", "Medical technician"),
    ("administration", "행정직", "Administration"),
    ("other", "기타", "Other"),
    ("current", "재직 중", "Current"),
    ("former", "퇴직", "Former"),
    ("tertiary", "상급종합병원", "Tertiary hospital"),
    ("general", "종합병원", "General hospital"),
    ("hospital", "병원", "Hospital"),
    ("nursing", "요양병원", "Nursing hospital"),
    ("clinic", "의원", "Clinic"),
    ("dental", "치과", "Dental"),
    ("korean_medicine", "한방", "Korean medicine"),
    (
        "personal_information",
        "개인정보 노출",
        "Personal information",
    ),
    ("abuse", "욕설·비방", "Abuse"),
    ("spam", "광고·도배", "Spam"),
    ("false_information", "허위 사실", "False information"),
    ("open", "확인 중", "Pending"),
    ("verified", "인증됨", "Verified"),
    ("rejected", "거절됨", "Rejected"),
    ("revoked", "취소됨", "Revoked"),
    ("expired", "만료됨", "Expired"),
    ("published", "게시됨", "Published"),
    ("hidden", "숨겨짐", "Hidden"),
    ("restored", "되돌림", "Restored"),
    ("deleted", "삭제됨", "Deleted"),
    ("erased", "지워짐", "Erased"),
    ("email", "이메일", "E-mail"),
    ("moderator", "운영자", "Moderator"),
    ("post", "글", "Post"),
    ("comment", "댓글", "Comment"),
    ("review", "리뷰", "Review"),
    ("claim", "재직 인증", "Affiliation"),
    (
        "answer",
        "내 질문에 답변이 달렸습니다",
        "Someone answered your question",
    ),
    (
        "reply",
        "내 댓글에 답글이 달렸습니다",
        "Someone replied to your comment",
    ),
    (
        "accepted",
        "내 답변이 채택되었습니다",
        "Your answer was accepted",
    ),
    (
        "claim_verified",
        "재직 인증이 완료되었습니다",
        "Your affiliation was verified",
    ),
    (
        "claim_rejected",
        "재직 인증이 거절되었습니다",
        "Your affiliation was rejected",
    ),
];

/// Interface messages for the API errors a reader meets most: (code, Korean, English).
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "unauthenticated",
        "로그인이 필요합니다.",
        "Please sign in first.",
    ),
    (
        "not_insider",
        "이 병원에 재직이 인증된 회원만 할 수 있습니다.",
        "Only staff verified at this hospital can do this.",
    ),
    (
        "member_suspended",
        "이용이 정지된 계정입니다.",
        "Your account is suspended.",
    ),
    (
        "moderator_only",
        "운영자만 할 수 있습니다.",
        "Only moderators can do this.",
    ),
    (
        "rate_limited",
        "너무 자주 요청했습니다. 잠시 후 다시 시도하세요.",
        "Too many requests; try again shortly.",
    ),
    (
        "service_unavailable",
        "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도하세요.",
        "Ward is briefly unavailable; try again in a few seconds.",
    ),
    (
        "personal_data",
        "사람을 알아볼 수 있는 정보(전화번호, 주민등록번호, 이메일 등)가 들어 있습니다.",
        "The text contains personal data (a phone number, resident number, e-mail address…).",
    ),
    ("title_empty", "제목을 입력하세요.", "Please enter a title."),
    (
        "body_empty",
        "내용을 입력하세요.",
        "Please enter some text.",
    ),
    (
        "title_too_long",
        "제목이 너무 깁니다.",
        "The title is too long.",
    ),
    (
        "body_too_long",
        "내용이 너무 깁니다.",
        "The text is too long.",
    ),
    (
        "post_not_found",
        "글을 찾을 수 없습니다.",
        "There is no such post.",
    ),
    (
        "hospital_not_found",
        "병원을 찾을 수 없습니다.",
        "There is no such hospital.",
    ),
    (
        "route_not_found",
        "페이지를 찾을 수 없습니다.",
        "There is no such page.",
    ),
    (
        "board_not_found",
        "게시판을 찾을 수 없습니다.",
        "There is no such board.",
    ),
    (
        "search_text_length",
        "검색어는 2자 이상 100자 이하로 입력하세요.",
        "Search for 2 to 100 characters.",
    ),
    (
        "review_already_written",
        "이 병원에는 이미 리뷰를 썼습니다.",
        "You have already reviewed this hospital.",
    ),
    (
        "claim_already_open",
        "이 병원에는 이미 인증을 요청했습니다.",
        "You have already claimed this hospital.",
    ),
    (
        "claim_already_verified",
        "이 병원에는 이미 재직이 인증되었습니다.",
        "You are already verified at this hospital.",
    ),
    (
        "claim_locked",
        "시도가 너무 많았습니다. 한 시간 뒤에 다시 시도하세요.",
        "Too many attempts; try again in an hour.",
    ),
    (
        "email_already_used",
        "이 주소는 이미 다른 회원의 인증에 쓰였습니다.",
        "That address already verified another member.",
    ),
    (
        "email_invalid",
        "이메일 주소가 올바르지 않습니다.",
        "That is not an e-mail address.",
    ),
    (
        "not_author",
        "글쓴이만 할 수 있습니다.",
        "Only the author can do this.",
    ),
    (
        "post_own_like",
        "자기 글에는 공감할 수 없습니다.",
        "You cannot like your own post.",
    ),
    (
        "review_own_helpful",
        "자기 리뷰에는 누를 수 없습니다.",
        "You cannot mark your own review helpful.",
    ),
    (
        "pros_too_short",
        "장점을 조금 더 자세히 써 주세요.",
        "Please write a little more under pros.",
    ),
    (
        "code_wrong",
        "코드가 맞지 않습니다.",
        "That code is not right.",
    ),
    (
        "code_expired",
        "코드가 만료되었습니다. 다시 받으세요.",
        "The code has expired; send a new one.",
    ),
    (
        "email_domain_not_allowed",
        "이 병원의 업무용 이메일 주소가 아닙니다.",
        "That is not one of this hospital's work addresses.",
    ),
    (
        "forbidden_cross_site",
        "다른 사이트에서 보낸 요청은 받지 않습니다.",
        "Requests from other sites are refused.",
    ),
    (
        "internal",
        "서버에 문제가 생겼습니다. 잠시 후 다시 시도하세요.",
        "Something went wrong on our side; try again later.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(ACCEPT_LANGUAGE, value);
        }
        headers
    }

    #[test]
    fn korean_is_the_default_and_accept_language_can_choose_english() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Ko);
        assert_eq!(Lang::of(&accepting("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::of(&accepting("ko-KR,ko;q=0.9,en;q=0.8")), Lang::Ko);
        assert_eq!(Lang::of(&accepting("fr;q=0.9,en;q=0.5,ko;q=0.7")), Lang::Ko);
        assert_eq!(Lang::of(&accepting("fr")), Lang::Ko);
    }

    #[test]
    fn the_cookie_overrides_accept_language() {
        let mut headers = accepting("en");
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("a=b; ward_lang=ko"),
        );
        assert_eq!(Lang::of(&headers), Lang::Ko);
    }

    #[test]
    fn codes_have_labels_in_both_languages() {
        assert_eq!(Lang::Ko.label("nurse"), "간호사");
        assert_eq!(Lang::En.label("nurse"), "Nurse");
        assert_eq!(Lang::En.label("unheard_of"), "unheard_of");
    }

    #[test]
    fn verified_members_read_as_bands_in_both_languages() {
        assert_eq!(Lang::Ko.verified_members(0, 4), "인증 회원 5명 미만");
        assert_eq!(
            Lang::En.verified_members(0, 4),
            "fewer than 5 verified members"
        );
        assert_eq!(Lang::Ko.verified_members(5, 9), "인증 회원 5–9명");
        assert_eq!(Lang::En.verified_members(10, 19), "10–19 verified members");
    }
}
