-- Nothing on the server says who wrote an item any more (ADR 0014): moderation strikes items
-- (0013) and the member read model lists a member's items from the member index. The first
-- form of the index (`member_items`, 0007) was moved into slots by the previous release's
-- command API at start, using `item_authors`; if it still holds rows, that release never ran
-- here, and dropping the tables would lose those members' entries: refuse instead.
DO
$$
    BEGIN
        IF EXISTS (SELECT 1 FROM member_items) THEN
            RAISE EXCEPTION 'member_items still holds rows: start the previous release''s command API once, then migrate again';
        END IF;
    END
$$;
DROP TABLE member_items;
DROP TABLE item_authors;
