use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    AcceptAnswer, AddComment, Board, CreatePost, DeleteComment, DeletePost, DeletedBy, EditComment,
    EditPost, EventText, Handle, PostCommand, PostError, PostEvent, Vote, BODY, COMMENT, TITLE,
};
use crate::author::{AuthorKey, AuthorRef};
use crate::member::MemberId;
use crate::sealed::ContentKey;

/// What a post command handler may use besides the aggregate's own state.
#[derive(Debug, Clone)]
pub struct PostServices {
    /// Derives author references.
    pub author_key: AuthorKey,
}

/// A thread, as far as its rules need to know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Post {
    /// Set by `PostCreated`.
    author_ref: Option<AuthorRef>,
    board: Option<Board>,
    deleted: bool,
    likers: BTreeSet<AuthorRef>,
    /// Handle number of each commenter (by thread reference) other than the author.
    handles: BTreeMap<AuthorRef, u32>,
    comments: BTreeMap<Uuid, Comment>,
    accepted: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Comment {
    parent_id: Option<Uuid>,
    commenter_ref: AuthorRef,
    deleted: bool,
}

impl Aggregate for Post {
    const TYPE: &'static str = "post";
    type Command = PostCommand;
    type Event = PostEvent;
    type Error = PostError;
    type Services = PostServices;

    async fn handle(
        &mut self,
        command: PostCommand,
        services: &PostServices,
        sink: &EventSink<Self>,
    ) -> Result<(), PostError> {
        let key = &services.author_key;
        let event = match command {
            PostCommand::Create(create) => self.create(create, key)?,
            PostCommand::Edit(edit) => self.edit(&edit, key)?,
            PostCommand::Delete(delete) => self.delete(&delete, key)?,
            PostCommand::Like(vote) => self.like(&vote, key)?,
            PostCommand::Unlike(vote) => self.unlike(&vote, key)?,
            PostCommand::Comment(comment) => self.comment(&comment, key)?,
            PostCommand::EditComment(edit) => self.edit_comment(&edit, key)?,
            PostCommand::DeleteComment(delete) => self.delete_comment(&delete, key)?,
            PostCommand::AcceptAnswer(accept) => self.accept(&accept, key)?,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PostEvent) {
        match event {
            PostEvent::PostCreated {
                board, author_ref, ..
            } => {
                self.board = Some(board);
                self.author_ref = Some(author_ref);
            }
            PostEvent::PostDeleted { .. } => self.deleted = true,
            PostEvent::PostEdited { .. } | PostEvent::CommentEdited { .. } => {}
            PostEvent::PostLiked { liker_ref } => {
                self.likers.insert(liker_ref);
            }
            PostEvent::PostUnliked { liker_ref } => {
                self.likers.remove(&liker_ref);
            }
            PostEvent::CommentAdded {
                comment_id,
                parent_id,
                handle,
                commenter_ref,
                ..
            } => {
                if let Handle::Anonymous(n) = handle {
                    self.handles.entry(commenter_ref.clone()).or_insert(n);
                }
                self.comments.insert(
                    comment_id,
                    Comment {
                        parent_id,
                        commenter_ref,
                        deleted: false,
                    },
                );
            }
            PostEvent::CommentDeleted { comment_id, .. } => {
                if let Some(comment) = self.comments.get_mut(&comment_id) {
                    comment.deleted = true;
                }
            }
            PostEvent::AnswerAccepted { comment_id } => self.accepted = Some(comment_id),
        }
    }
}

fn seal(key: &ContentKey, kind: &str, item: Uuid, field: &str, text: &str) -> EventText {
    EventText::Sealed(key.seal(kind, item, field, text))
}

impl Post {
    /// Whether the post exists and is not deleted.
    pub fn is_live(&self) -> bool {
        self.live().is_ok()
    }

    /// Whether the live post has the live comment `comment_id`.
    pub fn has_live_comment(&self, comment_id: Uuid) -> bool {
        self.is_live() && self.comments.get(&comment_id).is_some_and(|c| !c.deleted)
    }

    /// The author reference of a live post, or why there is none.
    fn live(&self) -> Result<&AuthorRef, PostError> {
        let author_ref = self.author_ref.as_ref().ok_or(PostError::NotFound)?;
        if self.deleted {
            return Err(PostError::Deleted);
        }
        Ok(author_ref)
    }

    fn is_author(&self, key: &AuthorKey, post_id: Uuid, member: MemberId) -> bool {
        self.author_ref.as_ref() == Some(&key.author_ref(Self::TYPE, post_id, member))
    }

    fn create(&self, command: CreatePost, key: &AuthorKey) -> Result<PostEvent, PostError> {
        if self.author_ref.is_some() {
            return Err(PostError::AlreadyExists);
        }
        let board = Board::parse(&command.board)
            .ok_or_else(|| PostError::UnknownBoard(command.board.clone()))?;
        let title = TITLE.check(&command.title)?;
        let body = BODY.check(&command.body)?;
        let (k, id) = (&command.content_key, command.post_id);
        let badge = command
            .badge
            .map(|badge| serde_json::to_string(&badge).unwrap_or_default())
            .map(|badge: String| seal(k, Self::TYPE, id, "badge", &badge));
        Ok(PostEvent::PostCreated {
            board,
            title: seal(k, Self::TYPE, id, "title", &title),
            body: seal(k, Self::TYPE, id, "body", &body),
            author_ref: key.author_ref(Self::TYPE, id, command.author),
            badge,
        })
    }

    fn edit(&self, command: &EditPost, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        if !self.is_author(key, command.post_id, command.actor) {
            return Err(PostError::NotAuthor);
        }
        let title = TITLE.check(&command.title)?;
        let body = BODY.check(&command.body)?;
        let (k, id) = (&command.content_key, command.post_id);
        Ok(PostEvent::PostEdited {
            title: seal(k, Self::TYPE, id, "title", &title),
            body: seal(k, Self::TYPE, id, "body", &body),
        })
    }

    fn delete(&self, command: &DeletePost, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        let by = if self.is_author(key, command.post_id, command.actor) {
            DeletedBy::Author
        } else if command.as_moderator {
            DeletedBy::Moderator
        } else {
            return Err(PostError::NotAuthor);
        };
        Ok(PostEvent::PostDeleted { by })
    }

    fn like(&self, vote: &Vote, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        if self.is_author(key, vote.post_id, vote.member) {
            return Err(PostError::OwnLike);
        }
        let liker_ref = key.author_ref("like", vote.post_id, vote.member);
        if self.likers.contains(&liker_ref) {
            return Err(PostError::AlreadyLiked);
        }
        Ok(PostEvent::PostLiked { liker_ref })
    }

    fn unlike(&self, vote: &Vote, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        let liker_ref = key.author_ref("like", vote.post_id, vote.member);
        if !self.likers.contains(&liker_ref) {
            return Err(PostError::NotLiked);
        }
        Ok(PostEvent::PostUnliked { liker_ref })
    }

    fn comment(&self, command: &AddComment, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        if self.comments.contains_key(&command.comment_id) {
            return Err(PostError::AlreadyExists);
        }
        if let Some(parent_id) = command.parent_id {
            let parent = self
                .comments
                .get(&parent_id)
                .ok_or(PostError::CommentNotFound)?;
            if parent.parent_id.is_some() {
                return Err(PostError::ReplyTooDeep);
            }
            if parent.deleted {
                return Err(PostError::CommentDeleted);
            }
        }
        let body = COMMENT.check(&command.body)?;
        let commenter_ref = key.author_ref("thread", command.post_id, command.author);
        let handle = if self.is_author(key, command.post_id, command.author) {
            Handle::OriginalPoster
        } else {
            let next = u32::try_from(self.handles.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            Handle::Anonymous(self.handles.get(&commenter_ref).copied().unwrap_or(next))
        };
        Ok(PostEvent::CommentAdded {
            comment_id: command.comment_id,
            parent_id: command.parent_id,
            body: seal(
                &command.content_key,
                "comment",
                command.comment_id,
                "body",
                &body,
            ),
            handle,
            commenter_ref,
        })
    }

    /// The live comment `comment_id`, if `actor` wrote it.
    fn own_comment(
        &self,
        post_id: Uuid,
        comment_id: Uuid,
        actor: MemberId,
        key: &AuthorKey,
    ) -> Result<bool, PostError> {
        self.live()?;
        let comment = self
            .comments
            .get(&comment_id)
            .ok_or(PostError::CommentNotFound)?;
        if comment.deleted {
            return Err(PostError::CommentDeleted);
        }
        Ok(comment.commenter_ref == key.author_ref("thread", post_id, actor))
    }

    fn edit_comment(&self, command: &EditComment, key: &AuthorKey) -> Result<PostEvent, PostError> {
        if !self.own_comment(command.post_id, command.comment_id, command.actor, key)? {
            return Err(PostError::NotAuthor);
        }
        let body = COMMENT.check(&command.body)?;
        Ok(PostEvent::CommentEdited {
            comment_id: command.comment_id,
            body: seal(
                &command.content_key,
                "comment",
                command.comment_id,
                "body",
                &body,
            ),
        })
    }

    fn delete_comment(
        &self,
        command: &DeleteComment,
        key: &AuthorKey,
    ) -> Result<PostEvent, PostError> {
        let by = if self.own_comment(command.post_id, command.comment_id, command.actor, key)? {
            DeletedBy::Author
        } else if command.as_moderator {
            DeletedBy::Moderator
        } else {
            return Err(PostError::NotAuthor);
        };
        Ok(PostEvent::CommentDeleted {
            comment_id: command.comment_id,
            by,
        })
    }

    fn accept(&self, command: &AcceptAnswer, key: &AuthorKey) -> Result<PostEvent, PostError> {
        self.live()?;
        if self.board != Some(Board::Qna) {
            return Err(PostError::NotAQuestion);
        }
        if !self.is_author(key, command.post_id, command.actor) {
            return Err(PostError::NotAuthor);
        }
        if self.accepted.is_some() {
            return Err(PostError::AnswerAlreadyAccepted);
        }
        if self.own_comment(command.post_id, command.comment_id, command.actor, key)? {
            return Err(PostError::OwnAnswer);
        }
        Ok(PostEvent::AnswerAccepted {
            comment_id: command.comment_id,
        })
    }
}
