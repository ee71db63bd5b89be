-- Sightline outbox for a self-hosted Odoo (16 or later), installed into Odoo's own
-- PostgreSQL database:
--
--   psql "dbname=odoo" -f odoo_outbox.sql
--
-- What it does: AFTER triggers on sale_order, stock_picking, stock_quant and
-- mrp_production copy every inserted row, every updated row whose watched columns
-- changed, and every deleted quant (as a quantity of 0), into sightline_outbox (the row as JSON, plus the few names Sightline cannot
-- read from the row: currency code, delivery type, location usage, product Internal
-- Reference, order lines), in the same transaction as Odoo's write, and
-- NOTIFY sightline_outbox with the outbox row's id. A rolled-back write leaves nothing.
--
-- Sightline LISTENs, reads undone rows (done_at IS NULL) in id order, stores their
-- events durably and only then sets done_at: at least once, nothing lost when either
-- side restarts. It deletes rows done more than a day ago, once an hour.
--
-- Sightline's database user needs only:
--   GRANT SELECT, UPDATE, DELETE ON sightline_outbox TO sightline;
-- Running the script again is safe (it replaces the function and the triggers).
-- To remove everything: DROP TABLE sightline_outbox CASCADE; then
-- DROP FUNCTION sightline_outbox_capture() CASCADE; DROP FUNCTION
-- sightline_outbox_move() CASCADE; DROP FUNCTION sightline_outbox_produced_qty(integer,
-- integer); (the CASCADEs drop the triggers too).
--
-- A manufacturing order's produced quantity is not a column in Odoo (`qty_produced` is
-- computed from the order's finished moves), so the script computes it the same way: the
-- done stock moves of the order's product, and a trigger on stock_move reports the order
-- again whenever one of its finished moves is done.

CREATE TABLE IF NOT EXISTS sightline_outbox (
    id          bigserial PRIMARY KEY,
    model       text        NOT NULL,           -- Odoo model: sale.order, stock.picking, ...
    record_id   bigint      NOT NULL,           -- the record's id
    operation   text        NOT NULL,           -- insert, update or delete (quants)
    payload     jsonb       NOT NULL,           -- the row, plus the names below
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at     timestamptz                     -- set by Sightline once the events are durable
);

-- Undone rows in id order: what Sightline reads.
CREATE INDEX IF NOT EXISTS sightline_outbox_undone ON sightline_outbox (id) WHERE done_at IS NULL;

-- TG_ARGV[0]: the Odoo model; TG_ARGV[1..]: the columns whose change is worth a row.
CREATE OR REPLACE FUNCTION sightline_outbox_capture() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    new_row   jsonb := to_jsonb(NEW);
    old_row   jsonb;
    changed   boolean := TG_OP IN ('INSERT', 'DELETE');
    column_no integer;
    outbox_id bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Only quants are watched for deletes: Odoo deletes emptied quants and those it
        -- merges into another, whose quantity then stands for both. A deleted quant
        -- counts as none left, as of now.
        new_row := to_jsonb(OLD) || jsonb_build_object(
            'quantity', 0,
            'write_date', to_jsonb(clock_timestamp() AT TIME ZONE 'UTC'));
    END IF;
    IF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        FOR column_no IN 1 .. TG_NARGS - 1 LOOP
            IF old_row -> TG_ARGV[column_no] IS DISTINCT FROM new_row -> TG_ARGV[column_no] THEN
                changed := true;
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF NOT changed THEN
        RETURN NULL;
    END IF;

    IF TG_TABLE_NAME = 'sale_order' THEN
        new_row := new_row || jsonb_build_object(
            'currency_code', (SELECT name FROM res_currency WHERE id = NEW.currency_id));
        IF NEW.state IN ('sale', 'done') THEN
            new_row := new_row || jsonb_build_object('order_line', COALESCE((
                SELECT jsonb_agg(jsonb_build_object(
                           'product_id', line.product_id,
                           'product_uom_qty', line.product_uom_qty,
                           'price_unit', line.price_unit,
                           'discount', line.discount,
                           'name', line.name,
                           'display_type', line.display_type,
                           'product_default_code', product.default_code)
                       ORDER BY line.sequence, line.id)
                FROM sale_order_line line
                LEFT JOIN product_product product ON product.id = line.product_id
                WHERE line.order_id = NEW.id), '[]'::jsonb));
        END IF;
    ELSIF TG_TABLE_NAME = 'stock_picking' THEN
        new_row := new_row || jsonb_build_object(
            'picking_type_code', (SELECT code FROM stock_picking_type WHERE id = NEW.picking_type_id));
    ELSIF TG_TABLE_NAME = 'mrp_production' AND to_regclass('stock_move') IS NOT NULL THEN
        new_row := new_row || jsonb_build_object(
            'qty_produced', sightline_outbox_produced_qty(NEW.id, NEW.product_id));
    ELSIF TG_TABLE_NAME = 'stock_quant' THEN
        new_row := new_row || jsonb_build_object(
            'location_usage', (SELECT usage FROM stock_location WHERE id = (new_row ->> 'location_id')::integer),
            'product_default_code', (SELECT default_code FROM product_product WHERE id = (new_row ->> 'product_id')::integer));
    END IF;

    INSERT INTO sightline_outbox (model, record_id, operation, payload)
    VALUES (TG_ARGV[0], (new_row ->> 'id')::bigint, lower(TG_OP), new_row)
    RETURNING id INTO outbox_id;
    -- Only the id: a wake-up. Delivered when (and if) this transaction commits.
    PERFORM pg_notify('sightline_outbox', outbox_id::text);
    RETURN NULL;
END
$$;

-- What Odoo's qty_produced computes: the done finished moves of the order's product.
-- The moved quantity is `quantity_done` up to Odoo 16 and `quantity` from 17 on; reading
-- the row as JSON takes whichever the table has.
CREATE OR REPLACE FUNCTION sightline_outbox_produced_qty(production integer, product integer)
RETURNS numeric LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT COALESCE(SUM(COALESCE((to_jsonb(move) ->> 'quantity_done')::numeric,
                                         (to_jsonb(move) ->> 'quantity')::numeric, 0)), 0)
            FROM stock_move move
            WHERE move.production_id = production AND move.product_id = product
              AND move.state = 'done');
END
$$;

-- A finished move of a manufacturing order's product that is done (or whose done
-- quantity changes) reports the order with its new produced quantity, as of the later of the two
-- rows' write_date.
CREATE OR REPLACE FUNCTION sightline_outbox_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    production_row jsonb;
    outbox_id      bigint;
BEGIN
    IF NEW.production_id IS NULL OR NEW.state IS DISTINCT FROM 'done' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = 'done'
       AND to_jsonb(OLD) -> 'quantity' IS NOT DISTINCT FROM to_jsonb(NEW) -> 'quantity'
       AND to_jsonb(OLD) -> 'quantity_done' IS NOT DISTINCT FROM to_jsonb(NEW) -> 'quantity_done' THEN
        RETURN NULL;
    END IF;
    SELECT to_jsonb(production) INTO production_row
    FROM mrp_production production WHERE production.id = NEW.production_id;
    -- By-products and scrap are moves of other products: not the order's output.
    IF production_row IS NULL OR (production_row ->> 'product_id')::integer IS DISTINCT FROM NEW.product_id THEN
        RETURN NULL;
    END IF;
    production_row := production_row || jsonb_build_object(
        'qty_produced', sightline_outbox_produced_qty(NEW.production_id,
                                                      (production_row ->> 'product_id')::integer),
        'write_date', to_jsonb(GREATEST((production_row ->> 'write_date')::timestamp, NEW.write_date)));
    INSERT INTO sightline_outbox (model, record_id, operation, payload)
    VALUES ('mrp.production', NEW.production_id, 'update', production_row)
    RETURNING id INTO outbox_id;
    PERFORM pg_notify('sightline_outbox', outbox_id::text);
    RETURN NULL;
END
$$;

-- One trigger per table that exists (mrp_production only with Manufacturing installed).
DO $$
DECLARE
    spec record;
BEGIN
    FOR spec IN
        SELECT * FROM (VALUES
            ('sale_order',     'sale.order',     '''state''',                   'INSERT OR UPDATE'),
            ('stock_picking',  'stock.picking',  '''state''',                   'INSERT OR UPDATE'),
            ('stock_quant',    'stock.quant',    '''quantity''',                'INSERT OR UPDATE OR DELETE'),
            ('mrp_production', 'mrp.production', '''state''',                   'INSERT OR UPDATE')
        ) AS specs(table_name, model, watched, events)
    LOOP
        IF to_regclass(spec.table_name) IS NULL THEN
            RAISE NOTICE 'sightline outbox: no table %, skipped', spec.table_name;
            CONTINUE;
        END IF;
        EXECUTE format('DROP TRIGGER IF EXISTS sightline_outbox ON %I', spec.table_name);
        EXECUTE format(
            'CREATE TRIGGER sightline_outbox AFTER %s ON %I '
            'FOR EACH ROW EXECUTE FUNCTION sightline_outbox_capture(%L, %s)',
            spec.events, spec.table_name, spec.model, spec.watched);
    END LOOP;
    IF to_regclass('mrp_production') IS NOT NULL AND to_regclass('stock_move') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS sightline_outbox_move ON stock_move;
        CREATE TRIGGER sightline_outbox_move AFTER INSERT OR UPDATE ON stock_move
            FOR EACH ROW EXECUTE FUNCTION sightline_outbox_move();
    END IF;
END
$$;
