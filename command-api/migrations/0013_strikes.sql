-- "Suspend the author of this item" (ADR 0014). Nothing on the server knows who wrote an
-- item while its author is away, so a moderator strikes the item, and the command side
-- suspends the author at their next command, when their own session lists their items.
-- No author, no time, no serial id.
CREATE TABLE strikes
(
    item_type text    NOT NULL,
    item_id   text    NOT NULL,
    days      integer NOT NULL CHECK (days BETWEEN 1 AND 365),
    PRIMARY KEY (item_type, item_id)
);
