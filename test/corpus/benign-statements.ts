/**
 * Benign corpus: ordinary statements that ORMs, query builders, drivers and applications send,
 * chosen because a naive SQL firewall might wrongly block them (string data that looks like an
 * attack, legitimate UNION / subqueries / CTEs, ORM comments and hints, hex literals as data,
 * `WHERE 1=1 AND ...` from query builders, information_schema introspection, ...).
 *
 * Rules the corpus keeps, so that a test can create BENIGN_SCHEMA in an empty database and run
 * every statement for real, as a non-admin user, in any order, any number of times:
 *   - every statement is one statement, valid for MariaDB 10.11 (verified against a sandbox);
 *   - no CREATE USER, GRANT, DROP, TRUNCATE, ALTER, SET GLOBAL, file access, sleeps in a WHERE;
 *   - no `--` or `#` comments (only inside string literals), no executable `/*! ... *\/` comments;
 *   - every UPDATE / DELETE has a WHERE clause;
 *   - inserts into tables with a unique key use ON DUPLICATE KEY UPDATE, INSERT IGNORE or REPLACE;
 *   - nothing names the database: everything lives in the current one.
 * Run them over a utf8mb4 connection (mysql2's default; the mariadb CLI needs
 * --default-character-set=utf8mb4, its utf8mb3 default rejects the emoji in one INSERT).
 *
 * A few statements use MariaDB-only syntax (SET STATEMENT ... FOR, RETURNING,
 * max_statement_time, @@tx_isolation); their `why` says so. MySQL's `->` / `->>` JSON operators
 * are not included because MariaDB 10.11 does not have them: JSON_EXTRACT / JSON_UNQUOTE /
 * JSON_VALUE stand in for them.
 */

export interface BenignStatement {
  /** The statement exactly as the client sends it. */
  readonly sql: string;
  /** Why it is benign, and what a naive firewall might wrongly see in it. */
  readonly why: string;
}

/** CREATE TABLE IF NOT EXISTS statements for every table the benign statements use (current database). */
export const BENIGN_SCHEMA: readonly string[] = Object.freeze([
  `CREATE TABLE IF NOT EXISTS users (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  pass VARCHAR(255) NOT NULL DEFAULT '',
  email VARCHAR(255) NULL,
  role VARCHAR(20) NOT NULL DEFAULT 'user',
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  active TINYINT(1) NOT NULL DEFAULT 1,
  country CHAR(2) NULL,
  profile JSON NULL,
  login_count INT NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_login DATETIME NULL,
  deleted_at DATETIME NULL,
  KEY idx_users_email (email),
  KEY idx_users_status (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS posts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id INT UNSIGNED NOT NULL,
  title VARCHAR(200) NOT NULL,
  body TEXT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'draft',
  views INT NOT NULL DEFAULT 0,
  published_at DATETIME NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_posts_user (user_id),
  FULLTEXT KEY ft_posts (title, body)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS comments (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_id INT UNSIGNED NOT NULL,
  user_id INT UNSIGNED NULL,
  author VARCHAR(100) NOT NULL,
  body TEXT NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_comments_post (post_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS products (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  sku VARCHAR(32) NOT NULL,
  name VARCHAR(200) NOT NULL,
  category VARCHAR(50) NOT NULL DEFAULT 'misc',
  price DECIMAL(10,2) NOT NULL DEFAULT 0.00,
  stock INT NOT NULL DEFAULT 0,
  attrs JSON NULL,
  active TINYINT(1) NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_products_sku (sku),
  KEY idx_products_category (category, price)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS orders (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id INT UNSIGNED NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'pending',
  total DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  shipped_at DATETIME NULL,
  KEY idx_orders_user (user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS orders_archive LIKE orders`,
  `CREATE TABLE IF NOT EXISTS order_items (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id INT UNSIGNED NOT NULL,
  product_id INT UNSIGNED NOT NULL,
  qty INT NOT NULL DEFAULT 1,
  price DECIMAL(10,2) NOT NULL,
  KEY idx_items_order (order_id),
  KEY idx_items_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS accounts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id INT UNSIGNED NULL,
  email VARCHAR(255) NULL,
  balance DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  version INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS carts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  session VARCHAR(64) NOT NULL,
  product_id INT UNSIGNED NOT NULL,
  qty INT NOT NULL DEFAULT 1,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  KEY idx_carts_session (session)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS items (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  description TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS sessions (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id INT UNSIGNED NULL,
  payload TEXT NULL,
  expires DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS blobs (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  data BLOB NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS counters (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  v BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS t (
  id INT NOT NULL PRIMARY KEY,
  v INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS settings (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS categories (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  parent_id INT UNSIGNED NULL,
  name VARCHAR(100) NOT NULL,
  KEY idx_categories_parent (parent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS employees (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  manager_id INT UNSIGNED NULL,
  name VARCHAR(100) NOT NULL,
  dept VARCHAR(50) NOT NULL,
  salary DECIMAL(10,2) NOT NULL,
  hired_on DATE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS tags (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  UNIQUE KEY uq_tags_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS post_tags (
  post_id INT UNSIGNED NOT NULL,
  tag_id INT UNSIGNED NOT NULL,
  PRIMARY KEY (post_id, tag_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  actor VARCHAR(100) NOT NULL,
  action VARCHAR(50) NOT NULL,
  detail TEXT NULL,
  ip VARBINARY(16) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind VARCHAR(32) NOT NULL,
  payload JSON NULL,
  occurred_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS menu (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  \`order\` INT NOT NULL DEFAULT 0,
  \`key\` VARCHAR(50) NOT NULL,
  label VARCHAR(100) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS news (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(200) NOT NULL,
  created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS stock (
  sku VARCHAR(32) NOT NULL PRIMARY KEY,
  qty INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
]);

export const BENIGN_STATEMENTS: readonly BenignStatement[] = Object.freeze([
  // ---------------------------------------------------------------- driver / session chatter
  { sql: 'SELECT 1', why: 'connection-pool liveness check' },
  { sql: 'SELECT 1 FROM DUAL', why: 'validation query of Java pools (HikariCP / DBCP style)' },
  { sql: 'SET NAMES utf8mb4', why: 'driver sets the connection character set' },
  { sql: 'SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci', why: 'driver sets character set and collation' },
  { sql: 'SET autocommit=0', why: 'driver/ORM turns autocommit off before a unit of work' },
  { sql: 'SET autocommit=1', why: 'driver restores autocommit' },
  { sql: 'BEGIN', why: 'transaction start' },
  { sql: 'COMMIT', why: 'transaction end' },
  { sql: 'START TRANSACTION', why: 'transaction start, standard spelling' },
  { sql: 'ROLLBACK', why: 'transaction abort' },
  { sql: 'SAVEPOINT active_record_1', why: 'Rails nested transaction savepoint' },
  { sql: 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', why: 'ORM picks the isolation level for the session' },
  { sql: "SET time_zone = '+00:00'", why: 'driver pins the session time zone to UTC' },
  { sql: "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'", why: 'Rails/Laravel set a strict session sql_mode on connect (string contains commas and underscores only)' },
  { sql: 'SET character_set_results = NULL', why: 'Connector/J session setup' },
  { sql: 'SET SESSION max_statement_time = 30', why: 'MariaDB-only per-session statement timeout set by the application' },
  { sql: 'SET @cursor = 100', why: 'user variable for keyset pagination' },
  { sql: 'SELECT @@version', why: 'driver reads the server version' },
  { sql: 'SELECT @@version_comment LIMIT 1', why: 'the mysql/mariadb command-line client sends this on connect' },
  { sql: 'SELECT @@max_allowed_packet, @@tx_isolation, @@autocommit', why: 'driver reads session settings (@@tx_isolation is the MariaDB 10.11 name)' },
  { sql: 'SELECT DATABASE()', why: 'driver/ORM asks for the current schema' },
  { sql: 'SELECT VERSION(), DATABASE(), CURRENT_USER()', why: 'admin UI / health page shows server info in the select list (not in a condition)' },
  { sql: 'SELECT CONNECTION_ID()', why: 'driver records its connection id for KILL QUERY on timeout' },
  { sql: 'SELECT LAST_INSERT_ID()', why: 'ORM reads the generated key after an INSERT' },
  { sql: 'SELECT NOW(), UTC_TIMESTAMP()', why: 'clock-skew check' },
  { sql: 'SELECT UUID()', why: 'application generates an id on the server' },
  { sql: "SELECT GET_LOCK('app_schema_migrations', 0)", why: 'Rails/Laravel migration advisory lock: GET_LOCK in the select list with timeout 0, not in a WHERE' },
  { sql: "SELECT RELEASE_LOCK('app_schema_migrations')", why: 'releases the migration advisory lock' },
  { sql: 'SHOW COLUMNS FROM users', why: 'ORM schema introspection' },
  { sql: 'SHOW FULL COLUMNS FROM products', why: 'ORM schema introspection with collations and comments' },
  { sql: 'SHOW TABLES', why: 'schema introspection' },
  { sql: 'SHOW INDEX FROM orders', why: 'schema introspection of indexes' },
  { sql: 'SHOW CREATE TABLE posts', why: 'schema dump tool / migration diff' },
  { sql: "SHOW VARIABLES LIKE 'sql_mode'", why: 'driver reads the sql_mode' },
  { sql: "SHOW TABLE STATUS LIKE 'users'", why: 'admin UI row estimate' },
  { sql: 'SHOW WARNINGS', why: 'driver fetches warnings after a statement' },
  { sql: 'DESCRIBE users', why: 'schema introspection, DESCRIBE spelling' },
  { sql: "EXPLAIN SELECT * FROM users WHERE email = 'jane.doe@example.com'", why: 'slow-query tooling explains a plan' },
  { sql: 'EXPLAIN FORMAT=JSON SELECT id FROM orders WHERE user_id = 3', why: 'APM tool explains a plan as JSON' },
  { sql: "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users' ORDER BY ordinal_position", why: 'ORM introspection reads information_schema (Rails/Prisma/Hibernate do this on boot)' },
  { sql: "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'", why: 'migration tool lists tables via information_schema' },
  { sql: "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'orders' AND index_name = 'idx_orders_user'", why: 'migration tool checks whether an index exists' },

  // ---------------------------------------------------------------- plain CRUD
  { sql: 'SELECT id, name, email FROM users WHERE id = 42', why: 'primary-key lookup with a concrete value' },
  { sql: "SELECT * FROM users WHERE email = 'jane.doe@example.com' LIMIT 1", why: 'lookup by email' },
  { sql: 'SELECT `users`.* FROM `users` WHERE `users`.`id` = 1 LIMIT 1', why: 'ActiveRecord find with backquoted identifiers' },
  { sql: 'SELECT COUNT(*) FROM users WHERE active = 1', why: 'WHERE active = 1 is a flag test, not a tautology' },
  { sql: 'SELECT * FROM users WHERE active = true AND role = \'admin\'', why: 'boolean literal compared with a column, not a tautology' },
  { sql: 'SELECT id, name FROM users WHERE 1 = 1 AND status = \'active\'', why: 'query builder emits WHERE 1 = 1 AND ... before appending filters: a benign SELECT' },
  { sql: "SELECT * FROM products WHERE 1=1 AND category = 'books' AND price < 20 ORDER BY price", why: 'query builder emits WHERE 1=1 AND ... before appending filters: a benign SELECT' },
  { sql: "SELECT id FROM orders WHERE 1 = 1 AND user_id = 3 AND status IN ('paid', 'shipped')", why: 'query builder emits WHERE 1 = 1 AND ... before appending filters: a benign SELECT' },
  { sql: "SELECT * FROM users WHERE status IN ('active', 'pending') ORDER BY created_at DESC LIMIT 20 OFFSET 40", why: 'ORDER BY ... LIMIT ... OFFSET pagination' },
  { sql: 'SELECT id, title FROM posts ORDER BY published_at DESC LIMIT 10, 10', why: 'LIMIT offset, count pagination' },
  { sql: 'SELECT id, name, price FROM products ORDER BY price DESC, id ASC LIMIT 25 OFFSET 50', why: 'multi-column ORDER BY with pagination' },
  { sql: 'SELECT id, title FROM posts WHERE id > @cursor ORDER BY id LIMIT 50', why: 'keyset pagination with a user variable' },
  { sql: 'SELECT * FROM products WHERE price BETWEEN 10 AND 50 AND active = 1', why: 'range filter' },
  { sql: 'SELECT * FROM users WHERE last_login IS NULL', why: 'NULL test' },
  { sql: 'SELECT id FROM users WHERE id = 5 OR id = 6', why: 'OR between two real column conditions, not a tautology' },
  { sql: "SELECT * FROM orders WHERE (status = 'pending' OR status = 'paid') AND total > 0", why: 'OR of column conditions inside parentheses' },
  { sql: "SELECT * FROM users WHERE name LIKE 'jo%'", why: 'prefix search' },
  { sql: "SELECT * FROM users WHERE name REGEXP '^[A-Z]'", why: 'REGEXP filter written by the application' },
  { sql: 'SELECT id FROM users WHERE id = -1', why: 'negative id from an unsaved record, a plain numeric literal' },
  { sql: 'SELECT * FROM users LIMIT 0', why: 'driver probes result-set metadata with LIMIT 0' },
  { sql: "SELECT 1 AS one FROM `users` WHERE `users`.`email` = 'a@example.com' LIMIT 1", why: 'ActiveRecord exists? check' },
  { sql: "select * from `users` where `email` = 'taylor@example.com' and `users`.`deleted_at` is null limit 1", why: 'Laravel Eloquent query with soft deletes, lower-case keywords' },
  { sql: 'SELECT * FROM `users` WHERE `users`.`deleted_at` IS NULL ORDER BY `users`.`id` LIMIT 1', why: 'GORM First() with soft deletes' },
  { sql: 'SELECT `users`.`id`, `users`.`name` FROM `users` WHERE (`users`.`active` AND `users`.`id` IN (1, 2, 3))', why: 'Django ORM filter with parenthesised WHERE' },
  { sql: 'select user0_.id as id1_0_, user0_.name as name2_0_, user0_.email as email3_0_ from users user0_ where user0_.id=5', why: 'Hibernate generated SQL with aliases' },
  { sql: 'SELECT `User`.`id` AS `User_id`, `User`.`name` AS `User_name` FROM `users` `User` WHERE `User`.`id` IN (1)', why: 'TypeORM generated SQL' },
  { sql: "SELECT u0_.id AS id_0, u0_.email AS email_1 FROM users u0_ WHERE u0_.email = 'x@example.com'", why: 'Doctrine generated SQL' },
  { sql: 'SELECT `id`, `name`, `email` FROM `users` AS `User` WHERE `User`.`id` = 4;', why: 'Sequelize always ends the statement with a single semicolon; nothing follows it' },
  { sql: "INSERT INTO `comments` (`post_id`,`author`,`body`) VALUES (2,'sequelize','hello');", why: 'Sequelize INSERT with the trailing semicolon it always adds; one statement' },
  { sql: "INSERT INTO users (name, email, country) VALUES ('alice', 'alice@example.com', 'GB')", why: 'plain INSERT' },
  { sql: "INSERT INTO users SET name = 'bob', email = 'bob@example.com', role = 'editor'", why: 'INSERT ... SET syntax' },
  { sql: "INSERT INTO posts (user_id, title, body) VALUES (1, 'Hello', DEFAULT)", why: 'INSERT with DEFAULT' },
  { sql: "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (1, 2, 1, 9.99), (1, 3, 2, 4.50), (1, 7, 1, 19.00)", why: 'multi-row INSERT from an ORM batch' },
  { sql: "INSERT INTO carts (session, product_id, qty) VALUES ('b5f1c0d2e3a4', 9, 1), ('b5f1c0d2e3a4', 11, 3)", why: 'multi-row INSERT' },
  { sql: "INSERT INTO orders (user_id, status, total) VALUES (3, 'pending', 42.50)", why: 'plain INSERT with a decimal' },
  { sql: "INSERT INTO employees (manager_id, name, dept, salary, hired_on) VALUES (NULL, 'Ada', 'eng', 9000.00, '2019-04-01'), (1, 'Linus', 'eng', 8000.00, '2020-06-15'), (1, 'Grace', 'ops', 7500.00, '2021-01-10')", why: 'multi-row INSERT with NULL and dates' },
  { sql: "INSERT INTO categories (parent_id, name) VALUES (NULL, 'Books'), (1, 'Fiction'), (2, 'Sci-Fi')", why: 'multi-row INSERT of a tree (hyphen in data)' },
  { sql: "INSERT IGNORE INTO tags (name) VALUES ('mysql'), ('security'), ('c#'), ('c--')", why: 'INSERT IGNORE; tag names contain # and -- as data' },
  { sql: 'INSERT IGNORE INTO post_tags (post_id, tag_id) VALUES (1, 1), (1, 2)', why: 'INSERT IGNORE into a join table' },
  { sql: "INSERT INTO counters (name, v) VALUES ('signups', 1) ON DUPLICATE KEY UPDATE v = v + 1", why: 'INSERT ... ON DUPLICATE KEY UPDATE counter' },
  { sql: "INSERT INTO products (sku, name, category, price, stock) VALUES ('SKU-1001', 'Mug', 'kitchen', 7.50, 100) ON DUPLICATE KEY UPDATE stock = stock + VALUES(stock), price = VALUES(price)", why: 'upsert with VALUES()' },
  { sql: "INSERT INTO products (sku, name, category, price, stock, attrs) VALUES ('SKU-2002', 'T-shirt', 'apparel', 15.00, 40, '{\"colors\": [\"red\", \"blue\"], \"size\": \"M\"}'), ('SKU-2003', 'Hoodie', 'apparel', 35.00, 12, '{\"colors\": [\"grey\"]}') ON DUPLICATE KEY UPDATE stock = VALUES(stock)", why: 'multi-row upsert with JSON documents (double quotes, brackets) inside literals' },
  { sql: "INSERT INTO sessions (id, user_id, payload, expires) VALUES ('sess_8f14e45fceea167a', 5, 'a:1:{s:4:\"cart\";a:0:{}}', NOW() + INTERVAL 2 HOUR) ON DUPLICATE KEY UPDATE payload = VALUES(payload), expires = VALUES(expires)", why: 'PHP session handler upsert; serialized data contains ; and quotes inside the literal' },
  { sql: "INSERT INTO t (id, v) VALUES (5, 0) ON DUPLICATE KEY UPDATE v = v", why: 'ensure-row upsert' },
  { sql: "REPLACE INTO settings (name, value) VALUES ('theme', 'dark')", why: 'REPLACE' },
  { sql: "REPLACE INTO counters SET name = 'cache_generation', v = 42", why: 'REPLACE ... SET' },
  { sql: "INSERT INTO settings (name, value) VALUES ('footer_html', '<a href=\"/x?a=1&b=2\">link</a> <script>alert(1)</script>') ON DUPLICATE KEY UPDATE value = VALUES(value)", why: 'CMS stores HTML in a literal' },
  { sql: "INSERT INTO audit_log (actor, action, detail, ip) VALUES ('admin', 'login', 'ok', INET6_ATON('192.0.2.10'))", why: 'audit insert with a function call' },
  { sql: "INSERT INTO audit_log (actor, action, detail) SELECT 'system', 'expire', CONCAT('session ', id) FROM sessions WHERE expires < NOW() - INTERVAL 1 DAY", why: 'INSERT ... SELECT (no UNION, the SELECT is the application\'s own)' },
  { sql: "INSERT INTO orders_archive SELECT * FROM orders WHERE created_at < '2015-01-01'", why: 'archiving job, INSERT ... SELECT *' },
  { sql: "INSERT INTO news (title) VALUES ('Release 2.0 is out')", why: 'plain INSERT' },
  { sql: "INSERT INTO stock (sku, qty) VALUES ('A-100', 10) ON DUPLICATE KEY UPDATE qty = qty + 10", why: 'stock upsert' },
  { sql: "INSERT INTO accounts (user_id, email, balance) VALUES (5, 'acct5@example.com', 100.00) RETURNING id, balance", why: 'MariaDB-only INSERT ... RETURNING' },
  { sql: "UPDATE users SET login_count = login_count + 1, last_login = NOW() WHERE id = 5", why: 'counter update' },
  { sql: 'UPDATE t SET v = v + 1 WHERE id = 5', why: 'increment by primary key' },
  { sql: "UPDATE counters SET v = v + 1 WHERE name = 'page_views'", why: 'increment by key' },
  { sql: 'UPDATE accounts SET balance = balance - 25.00, version = version + 1 WHERE id = 7 AND version = 3', why: 'optimistic locking update' },
  { sql: "UPDATE accounts SET email = 'new.address@example.com' WHERE id = 7", why: 'the same shape as the SQLi corpus EMAIL template, with a clean value' },
  { sql: "UPDATE users SET pass = '$2b$12$KIXQJf1Qm8d2v5yHn3mHkOu1x9x7c3u4pHf0fZK4Q8m1W2x3y4z5a' WHERE id = 9", why: 'bcrypt hash containing $ signs' },
  { sql: "UPDATE posts SET body = 'Semicolons; comments -- and # hashes /* are */ just text' WHERE id = 3", why: 'comment markers and ; inside a string literal' },
  { sql: "UPDATE posts SET status = 'published', published_at = NOW() WHERE id = 12 AND status = 'draft'", why: 'state transition' },
  { sql: "UPDATE products SET price = CASE id WHEN 1 THEN 9.99 WHEN 2 THEN 19.99 ELSE price END WHERE id IN (1, 2)", why: 'bulk update with CASE' },
  { sql: "UPDATE orders o JOIN users u ON u.id = o.user_id SET o.status = 'flagged' WHERE u.status = 'banned'", why: 'multi-table UPDATE with JOIN' },
  { sql: "UPDATE orders SET status = 'expired' WHERE status = 'pending' AND created_at < NOW() - INTERVAL 7 DAY ORDER BY id LIMIT 100", why: 'batched UPDATE with ORDER BY and LIMIT' },
  { sql: "UPDATE users SET profile = JSON_SET(COALESCE(profile, '{}'), '$.theme', 'dark') WHERE id = 5", why: 'JSON_SET update' },
  { sql: "UPDATE items SET description = 'Use code SAVE10 -- valid until Friday' WHERE id = 4", why: 'double dash inside a string literal' },
  { sql: 'DELETE FROM sessions WHERE expires < NOW()', why: 'session GC' },
  { sql: 'DELETE FROM carts WHERE updated_at < NOW() - INTERVAL 30 DAY LIMIT 10', why: 'DELETE ... LIMIT batch' },
  { sql: "DELETE FROM audit_log WHERE created_at < '2020-01-01' ORDER BY id LIMIT 1000", why: 'DELETE with ORDER BY and LIMIT' },
  { sql: "DELETE FROM carts WHERE session = 'b5f1c0d2e3a4' AND product_id = 9", why: 'the same shape as the SQLi corpus CART template, with a clean value' },
  { sql: 'DELETE c FROM carts c LEFT JOIN products p ON p.id = c.product_id WHERE p.id IS NULL', why: 'multi-table DELETE removing orphans' },
  { sql: 'DELETE FROM post_tags WHERE post_id = 1 AND tag_id IN (3, 4)', why: 'DELETE with IN list' },
  { sql: "DELETE FROM sessions WHERE id = 'sess_0000000000000000' RETURNING user_id", why: 'MariaDB-only DELETE ... RETURNING' },

  // ---------------------------------------------------------------- strings that look like attacks
  { sql: "SELECT * FROM items WHERE name LIKE '%--%'", why: 'search for a double dash: -- inside a literal' },
  { sql: "SELECT * FROM items WHERE description LIKE '%#%'", why: 'search for a hash sign: # inside a literal' },
  { sql: "SELECT * FROM items WHERE name LIKE '%/*%'", why: 'search for a comment opener inside a literal' },
  { sql: "SELECT * FROM items WHERE name LIKE '%50\\%%'", why: 'LIKE with a backslash-escaped percent sign' },
  { sql: "SELECT * FROM items WHERE name LIKE '%100!%%' ESCAPE '!'", why: 'LIKE with an ESCAPE clause' },
  { sql: "SELECT * FROM comments WHERE body = 'it''s OR 1=1'", why: "OR 1=1 inside a properly escaped ('' doubled) literal" },
  { sql: "INSERT INTO comments (post_id, author, body) VALUES (1, 'Bobby', 'Try this: '' OR ''1''=''1 -- it''s a classic')", why: "' OR '1'='1 -- written as data with doubled quotes" },
  { sql: "SELECT * FROM comments WHERE body = '\\' OR \\'1\\'=\\'1'", why: "' OR '1'='1 as data with backslash-escaped quotes" },
  { sql: "SELECT * FROM users WHERE name = 'admin''--'", why: "a user literally named admin'-- (quote doubled)" },
  { sql: "INSERT INTO users (name, email) VALUES ('O''Reilly', 'tim@example.com')", why: 'apostrophe in a name, doubled' },
  { sql: "INSERT INTO users (name, email) VALUES ('D\\'Angelo', 'd@example.com')", why: 'apostrophe in a name, backslash-escaped' },
  { sql: "SELECT * FROM products WHERE name = '1 OR 1=1'", why: 'OR 1=1 as data' },
  { sql: "SELECT * FROM items WHERE name = 'SLEEP(5)'", why: 'SLEEP(5) as data, not a call' },
  { sql: "SELECT * FROM items WHERE description = 'UNION SELECT password FROM users'", why: 'UNION SELECT as data' },
  { sql: "INSERT INTO posts (user_id, title, body, status) VALUES (2, 'How UNION SELECT attacks work', 'Never build SQL like SELECT * FROM users WHERE name = ''$name''; use placeholders. DROP TABLE is scary; so is BENCHMARK(1000000,MD5(1)).', 'draft')", why: 'security blog post: attack text, ; and doubled quotes all inside literals' },
  { sql: "SELECT * FROM audit_log WHERE detail LIKE '%information_schema%'", why: 'searching logs for a word' },
  { sql: "SELECT * FROM audit_log WHERE detail = 'attempted read of /etc/passwd via LOAD_FILE'", why: 'file path and LOAD_FILE as data' },
  { sql: "INSERT INTO audit_log (actor, action, detail) VALUES ('waf', 'blocked', 'payload: 1 INTO OUTFILE ''/tmp/x''')", why: 'INTO OUTFILE as data' },
  { sql: "INSERT INTO comments (post_id, author, body) VALUES (4, 'hn_reader', '/*!50000 not a hint */ just text')", why: 'executable-comment syntax as data' },
  { sql: "SELECT '0x61646d696e' AS literal_text", why: 'hex digits as a quoted string' },
  { sql: "SELECT * FROM users WHERE email = 'x@example.com' AND pass = 'p@ss;word#1'", why: 'password with ; and # inside a literal' },
  { sql: 'SELECT * FROM posts WHERE title = "double \\"quoted\\" title"', why: 'double-quoted string literal (no ANSI_QUOTES) with escaped quotes' },
  { sql: "SELECT * FROM items WHERE name = 'CHAR(97,100,109,105,110)'", why: 'CHAR() text as data' },
  { sql: "INSERT INTO items (name, description) VALUES ('Tabs\tand\nnewlines', 'line one\nline two')", why: 'control characters inside literals' },

  // ---------------------------------------------------------------- hex, bit and CHAR literals as data
  { sql: "INSERT INTO blobs (name, data) VALUES ('png-header', 0x89504e47)", why: 'hex literal as binary data' },
  { sql: "INSERT INTO blobs (name, data) VALUES ('gif-header', X'47494638')", why: "X'..' hex literal as binary data" },
  { sql: 'SELECT id, HEX(data) FROM blobs WHERE data = 0x89504E470D0A1A0A', why: 'hex literal compared with a BLOB column' },
  { sql: "SELECT id, name FROM blobs WHERE name = 'png-header' AND LENGTH(data) > 0", why: 'plain blob lookup' },
  { sql: 'SELECT CHAR(65)', why: 'CHAR() in the select list' },
  { sql: 'SELECT CHAR(72, 105) AS greeting', why: 'CHAR() with several codes in the select list' },
  { sql: "SELECT UNHEX('4142'), HEX('AB')", why: 'hex conversions in the select list' },
  { sql: "SELECT b'1010' + 0 AS ten", why: 'bit literal' },
  { sql: "SELECT CONCAT(name, ' <', email, '>') AS display FROM users WHERE id = 5", why: 'CONCAT in the select list' },
  { sql: "SELECT CONCAT_WS(', ', name, country) AS label FROM users LIMIT 5", why: 'CONCAT_WS in the select list' },

  // ---------------------------------------------------------------- unicode data
  { sql: "INSERT INTO users (name, email, country) VALUES ('Zoë Ångström', 'zoe@example.se', 'SE'), ('山田太郎', 'taro@example.jp', 'JP'), ('Ольга', 'olga@example.ru', 'RU')", why: 'non-ASCII names' },
  { sql: "INSERT INTO comments (post_id, author, body) VALUES (5, 'Émilie', 'Félicitations 🎉 — très bien !')", why: 'emoji (4-byte utf8mb4) and typographic punctuation' },
  { sql: "SELECT * FROM users WHERE name = 'Müller'", why: 'non-ASCII literal' },
  { sql: "SELECT * FROM users WHERE name = N'Łukasz'", why: "N'...' national string literal" },
  { sql: "SELECT * FROM users WHERE name = 'O’Brien'", why: 'typographic apostrophe (U+2019) is data, not a quote' },
  { sql: "INSERT INTO items (name, description) VALUES ('مرحبا', 'שלום עולם')", why: 'right-to-left scripts' },
  { sql: "SELECT * FROM users WHERE name = _utf8mb4'café' COLLATE utf8mb4_unicode_ci", why: 'charset introducer and COLLATE written by the application' },

  // ---------------------------------------------------------------- keyword-named identifiers
  { sql: "INSERT INTO menu (`order`, `key`, label) VALUES (1, 'union', 'Union members'), (2, 'drop', 'Drop-off points')", why: 'backquoted reserved words as column names; union/drop as data' },
  { sql: "SELECT `order`, `key`, label FROM menu WHERE `key` = 'select' ORDER BY `order`", why: 'backquoted reserved words as identifiers' },

  // ---------------------------------------------------------------- joins
  { sql: "SELECT p.id, p.title, u.name FROM posts p INNER JOIN users u ON u.id = p.user_id WHERE p.status = 'published' ORDER BY p.published_at DESC LIMIT 20", why: 'two-table inner join' },
  { sql: 'SELECT u.name, COUNT(o.id) AS order_count FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id, u.name HAVING COUNT(o.id) > 2', why: 'left join with GROUP BY ... HAVING' },
  { sql: 'SELECT o.id, pr.name, oi.qty, oi.price FROM orders o JOIN order_items oi ON oi.order_id = o.id JOIN products pr ON pr.id = oi.product_id WHERE o.id = 1', why: 'three-table join' },
  { sql: "SELECT u.email, o.id AS order_id, pr.sku, oi.qty * oi.price AS line_total FROM users u INNER JOIN orders o ON o.user_id = u.id INNER JOIN order_items oi ON oi.order_id = o.id LEFT JOIN products pr ON pr.id = oi.product_id WHERE o.status = 'paid' AND o.created_at >= '2024-01-01'", why: 'four-table join' },
  { sql: 'SELECT u.id, u.name FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE o.id IS NULL', why: 'anti-join with LEFT JOIN ... IS NULL' },
  { sql: 'SELECT e.name, m.name AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id', why: 'self join' },
  { sql: 'SELECT t.name, COUNT(*) AS uses FROM post_tags pt JOIN tags t ON t.id = pt.tag_id GROUP BY t.name ORDER BY uses DESC', why: 'join through a link table' },
  { sql: 'SELECT c.body, p.title FROM comments c RIGHT JOIN posts p ON p.id = c.post_id WHERE p.id = 3', why: 'right join' },
  { sql: 'SELECT STRAIGHT_JOIN o.id, u.name FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > 100', why: 'STRAIGHT_JOIN optimizer modifier' },
  { sql: "SELECT s.sku, w.label FROM stock s CROSS JOIN menu w WHERE w.`key` = 'warehouse'", why: 'cross join' },
  { sql: 'SELECT p.title, c.author FROM posts p JOIN comments c USING (user_id) WHERE p.id = 2', why: 'join with USING' },

  // ---------------------------------------------------------------- subqueries
  { sql: 'SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 100)', why: 'IN subquery' },
  { sql: "SELECT * FROM products WHERE id NOT IN (SELECT product_id FROM order_items) AND active = 1", why: 'NOT IN subquery' },
  { sql: 'SELECT * FROM products p WHERE EXISTS (SELECT 1 FROM order_items oi WHERE oi.product_id = p.id)', why: 'EXISTS subquery' },
  { sql: 'SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.user_id = u.id)', why: 'NOT EXISTS subquery' },
  { sql: 'SELECT u.id, u.name, (SELECT COUNT(*) FROM posts p WHERE p.user_id = u.id) AS post_count FROM users u', why: 'scalar subquery in the select list' },
  { sql: 'SELECT d.user_id, d.total FROM (SELECT user_id, SUM(total) AS total FROM orders GROUP BY user_id) AS d WHERE d.total > 500', why: 'derived table' },
  { sql: "SELECT * FROM products WHERE price > ALL (SELECT price FROM products WHERE category = 'sale')", why: 'ALL subquery' },
  { sql: 'SELECT * FROM orders WHERE total = (SELECT MAX(total) FROM orders)', why: 'scalar subquery in WHERE' },
  { sql: "SELECT * FROM orders WHERE (user_id, status) = (SELECT id, 'paid' FROM users WHERE email = 'a@example.com' LIMIT 1)", why: 'row subquery' },

  // ---------------------------------------------------------------- legitimate UNION / set operations
  { sql: 'SELECT email FROM users WHERE active = 1 UNION SELECT email FROM accounts', why: 'application UNION of two full SELECTs' },
  { sql: "(SELECT id, title, 'post' AS kind FROM posts WHERE title LIKE '%sql%') UNION ALL (SELECT id, name, 'product' FROM products WHERE name LIKE '%sql%') ORDER BY id LIMIT 20", why: 'site search: parenthesised UNION ALL with ORDER BY' },
  { sql: 'SELECT user_id FROM orders INTERSECT SELECT user_id FROM posts', why: 'INTERSECT set operation' },
  { sql: 'SELECT id FROM users EXCEPT SELECT user_id FROM orders', why: 'EXCEPT set operation' },

  // ---------------------------------------------------------------- CTEs
  { sql: "WITH recent AS (SELECT id, user_id, total FROM orders WHERE created_at >= NOW() - INTERVAL 30 DAY) SELECT user_id, SUM(total) AS spent FROM recent GROUP BY user_id ORDER BY spent DESC LIMIT 10", why: 'non-recursive CTE' },
  { sql: 'WITH RECURSIVE tree AS (SELECT id, parent_id, name, 0 AS depth FROM categories WHERE parent_id IS NULL UNION ALL SELECT c.id, c.parent_id, c.name, tree.depth + 1 FROM categories c JOIN tree ON c.parent_id = tree.id) SELECT * FROM tree ORDER BY depth, name', why: 'recursive CTE over a category tree (UNION ALL SELECT inside the CTE)' },
  { sql: 'WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 10) SELECT n FROM seq', why: 'recursive number series' },
  { sql: 'WITH RECURSIVE chain AS (SELECT id, manager_id, name FROM employees WHERE id = 3 UNION ALL SELECT e.id, e.manager_id, e.name FROM employees e JOIN chain ON e.id = chain.manager_id) SELECT name FROM chain', why: 'recursive management chain' },
  { sql: "WITH paid AS (SELECT * FROM orders WHERE status = 'paid'), big AS (SELECT * FROM paid WHERE total > 100) SELECT COUNT(*) FROM big", why: 'two chained CTEs' },

  // ---------------------------------------------------------------- window functions
  { sql: 'SELECT id, user_id, created_at, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY created_at DESC) AS rn FROM orders', why: 'ROW_NUMBER() OVER (PARTITION BY ...)' },
  { sql: 'SELECT name, dept, salary, RANK() OVER (PARTITION BY dept ORDER BY salary DESC) AS dept_rank FROM employees', why: 'RANK() window' },
  { sql: 'SELECT id, user_id, total, SUM(total) OVER (PARTITION BY user_id ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM orders', why: 'running total window frame' },
  { sql: 'SELECT id, total, LAG(total) OVER (ORDER BY id) AS prev_total, LEAD(total, 1) OVER (ORDER BY id) AS next_total FROM orders', why: 'LAG / LEAD' },
  { sql: 'SELECT name, salary, NTILE(4) OVER (ORDER BY salary) AS quartile FROM employees', why: 'NTILE' },
  { sql: 'SELECT name, dept, DENSE_RANK() OVER w AS r, AVG(salary) OVER w AS avg_salary FROM employees WINDOW w AS (PARTITION BY dept ORDER BY salary)', why: 'named WINDOW clause' },
  { sql: 'SELECT * FROM (SELECT id, user_id, total, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY total DESC) AS rn FROM orders) ranked WHERE rn <= 3', why: 'top-N per group through a derived table' },

  // ---------------------------------------------------------------- JSON
  { sql: "SELECT id, JSON_EXTRACT(attrs, '$.size') AS size FROM products WHERE id = 1", why: 'JSON_EXTRACT' },
  { sql: "SELECT JSON_UNQUOTE(JSON_EXTRACT(profile, '$.address.city')) AS city FROM users WHERE JSON_EXTRACT(profile, '$.newsletter') = true", why: 'JSON_UNQUOTE(JSON_EXTRACT()) (the ->> operator of MySQL)' },
  { sql: "SELECT id FROM products WHERE JSON_CONTAINS(attrs, '\"red\"', '$.colors')", why: 'JSON_CONTAINS with a quoted JSON string' },
  { sql: "SELECT JSON_VALUE(payload, '$.plan') AS plan FROM events WHERE kind = 'signup'", why: 'JSON_VALUE' },
  { sql: "SELECT e.id, jt.tag FROM events e, JSON_TABLE(e.payload, '$.tags[*]' COLUMNS (tag VARCHAR(32) PATH '$')) AS jt WHERE e.kind = 'click'", why: 'JSON_TABLE' },
  { sql: "INSERT INTO events (kind, payload) VALUES ('signup', JSON_OBJECT('user_id', 5, 'plan', 'pro'))", why: 'JSON_OBJECT in an INSERT' },
  { sql: "INSERT INTO events (kind, payload) VALUES ('click', '{\"x\": 10, \"y\": 20, \"tags\": [\"a\", \"b\"]}')", why: 'JSON document literal' },
  { sql: 'SELECT JSON_ARRAYAGG(name) AS names FROM tags', why: 'JSON_ARRAYAGG' },
  { sql: 'SELECT JSON_OBJECTAGG(name, value) AS config FROM settings', why: 'JSON_OBJECTAGG' },
  { sql: "SELECT id, JSON_LENGTH(payload, '$.tags') AS n FROM events WHERE JSON_VALID(payload)", why: 'JSON_LENGTH / JSON_VALID' },

  // ---------------------------------------------------------------- CASE, IF, functions
  { sql: "SELECT id, CASE WHEN stock = 0 THEN 'out' WHEN stock < 10 THEN 'low' ELSE 'ok' END AS level FROM products", why: 'CASE WHEN in the select list' },
  { sql: "SELECT id, IF(active = 1, 'yes', 'no') AS is_active FROM users", why: 'IF() in the select list' },
  { sql: "SELECT id, IFNULL(email, 'n/a'), COALESCE(country, 'XX'), NULLIF(role, 'user') FROM users", why: 'NULL-handling functions' },
  { sql: "SELECT id, status FROM orders ORDER BY FIELD(status, 'pending', 'paid', 'shipped'), id", why: 'ORDER BY FIELD()' },
  { sql: "SELECT id, name FROM products ORDER BY CASE WHEN category = 'featured' THEN 0 ELSE 1 END, name", why: 'ORDER BY CASE' },
  { sql: "SELECT id FROM users ORDER BY RAND() LIMIT 1", why: 'random pick, RAND() in ORDER BY' },
  { sql: "SELECT id FROM users WHERE pass = SHA2(CONCAT('pepper', 'secret'), 256)", why: 'SHA2 / CONCAT in a condition written by the app' },
  { sql: "SELECT MD5('hello'), SHA1('hello')", why: 'hash functions in the select list' },
  { sql: "SELECT COUNT(*) FROM users WHERE LOWER(email) = LOWER('Jane@Example.com')", why: 'case-insensitive comparison' },
  { sql: 'SELECT SUBSTRING(name, 1, 1) AS initial, COUNT(*) AS n FROM users GROUP BY initial ORDER BY initial', why: 'SUBSTRING of a column for an A-Z index' },
  { sql: 'SELECT name FROM users WHERE ASCII(SUBSTRING(name, 1, 1)) BETWEEN 65 AND 90', why: 'ASCII(SUBSTRING(column)) on user data, names starting with A-Z' },
  { sql: 'SELECT ROUND(AVG(price), 2) AS avg_price, MIN(price), MAX(price), STDDEV(price) FROM products', why: 'aggregates' },
  { sql: 'SELECT CAST(price AS CHAR) AS price_text, CONVERT(name USING utf8mb4) FROM products LIMIT 10', why: 'CAST / CONVERT USING' },
  { sql: "SELECT COALESCE(SUM(qty), 0) AS items FROM carts WHERE session = 'b5f1c0d2e3a4'", why: 'cart total' },
  { sql: "SELECT id, title FROM posts WHERE MATCH(title, body) AGAINST ('mysql proxy' IN NATURAL LANGUAGE MODE)", why: 'full-text search' },
  { sql: "SELECT id FROM posts WHERE MATCH(title, body) AGAINST ('+mysql -oracle \"connection pool\"' IN BOOLEAN MODE)", why: 'boolean full-text search: + - and double quotes inside the literal' },
  { sql: 'SELECT COUNT(*) INTO @n FROM users', why: 'SELECT ... INTO a user variable (not a file)' },
  { sql: 'SELECT INET6_NTOA(ip) AS ip FROM audit_log ORDER BY id DESC LIMIT 10', why: 'binary IP decoding' },

  // ---------------------------------------------------------------- dates
  { sql: "SELECT DATE_FORMAT(created_at, '%Y-%m') AS month, COUNT(*) AS n FROM orders GROUP BY month ORDER BY month", why: 'DATE_FORMAT with % in the format literal' },
  { sql: 'SELECT * FROM orders WHERE created_at >= CURDATE() - INTERVAL 7 DAY', why: 'interval arithmetic' },
  { sql: 'SELECT COUNT(*) FROM users WHERE last_login > DATE_SUB(NOW(), INTERVAL 1 HOUR)', why: 'DATE_SUB' },
  { sql: 'SELECT id, DATEDIFF(shipped_at, created_at) AS days, TIMESTAMPDIFF(HOUR, created_at, shipped_at) AS hours FROM orders WHERE shipped_at IS NOT NULL', why: 'DATEDIFF / TIMESTAMPDIFF' },
  { sql: 'SELECT UNIX_TIMESTAMP(created_at), FROM_UNIXTIME(1700000000) FROM orders LIMIT 5', why: 'epoch conversions' },
  { sql: 'SELECT YEAR(hired_on) AS y, MONTH(hired_on) AS m, COUNT(*) FROM employees GROUP BY y, m', why: 'YEAR / MONTH grouping' },
  { sql: "SELECT * FROM orders WHERE created_at BETWEEN '2024-01-01 00:00:00' AND '2024-01-31 23:59:59'", why: 'datetime range' },
  { sql: "SELECT STR_TO_DATE('01/03/2024', '%d/%m/%Y') AS d, CONVERT_TZ('2024-03-01 12:00:00', '+00:00', '+02:00') AS local_time", why: 'STR_TO_DATE / CONVERT_TZ (/ in the format literal)' },
  { sql: 'SELECT WEEKDAY(NOW()), LAST_DAY(CURDATE()), DAYNAME(CURDATE())', why: 'calendar functions' },

  // ---------------------------------------------------------------- GROUP BY / HAVING
  { sql: 'SELECT category, COUNT(*) AS n, AVG(price) AS avg_price FROM products GROUP BY category HAVING COUNT(*) > 1 ORDER BY n DESC', why: 'GROUP BY ... HAVING' },
  { sql: 'SELECT dept, SUM(salary) FROM employees GROUP BY dept WITH ROLLUP', why: 'WITH ROLLUP' },
  { sql: "SELECT p.id, GROUP_CONCAT(DISTINCT t.name ORDER BY t.name SEPARATOR ', ') AS tags FROM posts p LEFT JOIN post_tags pt ON pt.post_id = p.id LEFT JOIN tags t ON t.id = pt.tag_id GROUP BY p.id", why: 'GROUP_CONCAT with SEPARATOR' },
  { sql: 'SELECT COUNT(DISTINCT user_id) AS buyers FROM orders', why: 'COUNT(DISTINCT)' },

  // ---------------------------------------------------------------- locking reads
  { sql: 'SELECT balance, version FROM accounts WHERE id = 7 FOR UPDATE', why: 'SELECT ... FOR UPDATE' },
  { sql: 'SELECT * FROM orders WHERE id = 1 LOCK IN SHARE MODE', why: 'shared lock read' },
  { sql: "SELECT id FROM orders WHERE status = 'pending' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED", why: 'job-queue claim with SKIP LOCKED' },
  { sql: 'SELECT id FROM accounts WHERE id = 8 FOR UPDATE NOWAIT', why: 'FOR UPDATE NOWAIT' },

  // ---------------------------------------------------------------- hints and optimizer modifiers
  { sql: "SELECT /*+ MAX_EXECUTION_TIME(1000) */ id, title FROM posts WHERE status = 'published'", why: 'optimizer hint comment (MySQL; MariaDB treats it as a plain comment)' },
  { sql: 'SELECT /*+ NO_RANGE_OPTIMIZATION(users) */ COUNT(*) FROM users', why: 'optimizer hint comment' },
  { sql: "SELECT id FROM users USE INDEX (idx_users_email) WHERE email = 'jane.doe@example.com'", why: 'index hint' },
  { sql: 'SELECT * FROM orders FORCE INDEX (PRIMARY) WHERE id BETWEEN 100 AND 200', why: 'FORCE INDEX' },
  { sql: 'SELECT SQL_NO_CACHE COUNT(*) FROM orders', why: 'SQL_NO_CACHE modifier' },
  { sql: 'SELECT SQL_CALC_FOUND_ROWS id, title FROM posts ORDER BY id LIMIT 10', why: 'legacy pagination with SQL_CALC_FOUND_ROWS' },
  { sql: 'SELECT FOUND_ROWS()', why: 'pairs with SQL_CALC_FOUND_ROWS' },
  { sql: 'SELECT HIGH_PRIORITY id FROM users WHERE id = 1', why: 'HIGH_PRIORITY modifier' },
  { sql: "SET STATEMENT max_statement_time = 5 FOR SELECT COUNT(*) FROM orders WHERE status = 'paid'", why: 'MariaDB-only per-statement timeout' },

  // ---------------------------------------------------------------- ORM / APM comments
  { sql: '/* controller:users,action:index */ SELECT * FROM users ORDER BY id LIMIT 25', why: 'leading ORM tag comment' },
  { sql: 'SELECT `posts`.* FROM `posts` WHERE `posts`.`user_id` = 3 /*application:Blog,controller:posts,action:index*/', why: 'Rails marginalia trailing comment' },
  { sql: "SELECT * FROM orders WHERE user_id = 3 /*action='show',controller='orders',framework='rails%3A7.1',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/", why: 'sqlcommenter trailing comment with url-encoded values' },
  { sql: '/* load com.shop.domain.User */ select u.id, u.name from users u where u.id=17', why: 'Hibernate use_sql_comments' },
  { sql: "/* request_id=7f3a9c, route=GET /api/products */ SELECT id, name, price FROM products WHERE category = 'books' LIMIT 50", why: 'APM request comment containing / and =' },
  { sql: "/* sync-job: batch 3 */ UPDATE products SET stock = 0 WHERE sku = 'SKU-0000'", why: 'comment before an UPDATE' },
]);
