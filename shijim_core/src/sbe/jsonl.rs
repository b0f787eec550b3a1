//! The canonical JSONL line of a record (docs/formats.md) <-> `Message`, for bulk paths
//! (replay, the SBE file tool) that cannot afford a Python parser per line.
//!
//! `parse_line` is a fast path, not a second validator: it accepts only the plain JSON a
//! recorder writes (no string escapes, no exponents, no duplicate keys, `true`/`false` for
//! `simtrade`, no strings as prices) and, for those lines, exactly the records the Python
//! reader (`shijim.events.record_from_dict`) accepts. Anything else returns `None` and the
//! caller runs the Python reader on the line, which either accepts it or names the field.
//! So a line is never accepted here that the reference reader would refuse, and every error
//! message still comes from one place.

use super::message::{
    BidAsk, EventKind, Message, SessionState, Snapshot, SystemEvent, Tick, TickType, TradingState,
    LEVELS,
};
use super::price::{Price, PRICE_SCALE};
use super::text::{Code, Reason};

/// Every key of every record type; a key's index is its slot in `Fields`.
const KEYS: [&str; 23] = [
    "type",
    "code",
    "exch_ts",
    "local_ts",
    "seq",
    "price",
    "volume",
    "total_volume",
    "tick_type",
    "simtrade",
    "bid_price",
    "bid_volume",
    "ask_price",
    "ask_volume",
    "open",
    "high",
    "low",
    "close",
    "event",
    "session_state",
    "trading_state",
    "count",
    "reason",
];
const TYPE: usize = 0;
const CODE: usize = 1;
const EXCH_TS: usize = 2;
const LOCAL_TS: usize = 3;
const SEQ: usize = 4;
const PRICE: usize = 5;
const VOLUME: usize = 6;
const TOTAL_VOLUME: usize = 7;
const TICK_TYPE: usize = 8;
const SIMTRADE: usize = 9;
const BID_PRICE: usize = 10;
const BID_VOLUME: usize = 11;
const ASK_PRICE: usize = 12;
const ASK_VOLUME: usize = 13;
const OPEN: usize = 14;
const HIGH: usize = 15;
const LOW: usize = 16;
const CLOSE: usize = 17;
const EVENT: usize = 18;
const SESSION_STATE: usize = 19;
const TRADING_STATE: usize = 20;
const COUNT: usize = 21;
const REASON: usize = 22;

const HEAD: [usize; 5] = [TYPE, CODE, EXCH_TS, LOCAL_TS, SEQ];
const TICK_FIELDS: [usize; 5] = [PRICE, VOLUME, TOTAL_VOLUME, TICK_TYPE, SIMTRADE];
const BIDASK_FIELDS: [usize; 5] = [BID_PRICE, BID_VOLUME, ASK_PRICE, ASK_VOLUME, SIMTRADE];
const SNAPSHOT_FIELDS: [usize; 10] = [
    OPEN,
    HIGH,
    LOW,
    CLOSE,
    VOLUME,
    TOTAL_VOLUME,
    BID_PRICE,
    BID_VOLUME,
    ASK_PRICE,
    ASK_VOLUME,
];
const EVENT_FIELDS: [usize; 5] = [EVENT, SESSION_STATE, TRADING_STATE, COUNT, REASON];

/// One JSON value of the plain subset. Numbers and strings are slices of the line.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// `-?(0|[1-9][0-9]*)`
    Int(&'a str),
    /// `-?(0|[1-9][0-9]*)\.[0-9]+`
    Decimal(&'a str),
    /// Printable ASCII without `"` or `\`.
    Str(&'a str),
    Bool(bool),
    Null,
    /// Exactly `LEVELS` numbers of the plain subset, comma-separated with optional JSON
    /// whitespace: the text between the brackets, checked by the cursor and read again by
    /// `levels`. A slice rather than the items keeps a `Value` at 24 bytes: a line's 23 key
    /// slots are filled and moved per line, and the arrays were 5 slices each.
    Levels(&'a str),
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn text(&self, from: usize) -> Option<&'a str> {
        let bytes = self.s.get(from..self.i)?;
        debug_assert!(bytes.is_ascii());
        // SAFETY: every caller consumed only ASCII bytes between `from` and `i` (`string`:
        // 0x20..=0x7E; `number`: '-', '.', digits; `value`: numbers, commas, JSON whitespace),
        // and ASCII is valid UTF-8. Checking again was ~6 % of a conversion's time, on ten
        // tokens of every book line.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let from = self.i;
        loop {
            match self.peek()? {
                b'"' => break,
                // Escapes and anything not printable ASCII: the reference reader decides.
                b'\\' => return None,
                0x20..=0x7E => self.i += 1,
                _ => return None,
            }
        }
        let text = self.text(from)?;
        self.i += 1;
        Some(text)
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Option<Value<'a>> {
        let from = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let first = self.peek()?;
        let n = self.digits();
        if n == 0 || (first == b'0' && n > 1) {
            return None;
        }
        let decimal = self.peek() == Some(b'.');
        if decimal {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        let text = self.text(from)?;
        Some(if decimal {
            Value::Decimal(text)
        } else {
            Value::Int(text)
        })
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        let end = self.i + word.len();
        (self.s.get(self.i..end)? == word).then(|| {
            self.i = end;
            value
        })
    }

    fn scalar(&mut self) -> Option<Value<'a>> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.ws();
        if self.peek()? != b'[' {
            return self.scalar();
        }
        self.i += 1;
        let from = self.i;
        for k in 0..LEVELS {
            if k > 0 {
                self.eat(b',')?;
            }
            match self.scalar()? {
                Value::Int(_) | Value::Decimal(_) => {}
                _ => return None,
            }
        }
        self.ws();
        let inner = self.text(from)?;
        self.eat(b']')?;
        Some(Value::Levels(inner))
    }
}

type Fields<'a> = [Option<Value<'a>>; KEYS.len()];

/// The slot of a key in `KEYS` (a match: the compiler dispatches on length and bytes, where a
/// scan compared up to 23 keys; `slots_match_keys` checks it against `KEYS`).
fn slot_of(key: &str) -> Option<usize> {
    Some(match key {
        "type" => TYPE,
        "code" => CODE,
        "exch_ts" => EXCH_TS,
        "local_ts" => LOCAL_TS,
        "seq" => SEQ,
        "price" => PRICE,
        "volume" => VOLUME,
        "total_volume" => TOTAL_VOLUME,
        "tick_type" => TICK_TYPE,
        "simtrade" => SIMTRADE,
        "bid_price" => BID_PRICE,
        "bid_volume" => BID_VOLUME,
        "ask_price" => ASK_PRICE,
        "ask_volume" => ASK_VOLUME,
        "open" => OPEN,
        "high" => HIGH,
        "low" => LOW,
        "close" => CLOSE,
        "event" => EVENT,
        "session_state" => SESSION_STATE,
        "trading_state" => TRADING_STATE,
        "count" => COUNT,
        "reason" => REASON,
        _ => return None,
    })
}

/// The object's fields by key slot; `None` for anything outside the plain subset, an unknown
/// key or a repeated key.
fn fields(line: &[u8]) -> Option<Fields<'_>> {
    let mut c = Cursor { s: line, i: 0 };
    let mut out: Fields<'_> = [None; KEYS.len()];
    c.eat(b'{')?;
    loop {
        let slot = slot_of(c.string()?)?;
        c.eat(b':')?;
        let value = c.value()?;
        if out[slot].replace(value).is_some() {
            return None;
        }
        c.ws();
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    (c.i == line.len()).then_some(out)
}

fn int(v: Option<Value<'_>>) -> Option<i64> {
    match v? {
        Value::Int(t) => int_text(t),
        _ => None,
    }
}

/// An `Int` token's value (`-?(0|[1-9][0-9]*)`, as the cursor read it): up to 18 digits
/// cannot overflow and are summed directly; longer ones (the int64 edges) go through `parse`.
fn int_text(t: &str) -> Option<i64> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    if digits.len() > 18 {
        return t.parse().ok();
    }
    let mut v: i64 = 0;
    for &c in digits {
        v = v * 10 + i64::from(c.wrapping_sub(b'0'));
    }
    Some(if negative { -v } else { v })
}

fn uint(v: Option<Value<'_>>) -> Option<u64> {
    match v? {
        // "-0" is 0 to the reference reader; any other negative is out of range there.
        Value::Int("-0") => Some(0),
        Value::Int(t) => t.parse().ok(),
        _ => None,
    }
}

fn price(v: Option<Value<'_>>) -> Option<Price> {
    match v? {
        Value::Int(t) | Value::Decimal(t) => {
            plain_price(t).or_else(|| Price::parse_decimal(t).ok())
        }
        _ => None,
    }
}

/// The common case of a number the cursor read (`-?digits[.digits]`) with at most six
/// decimals and no overflow, in one pass (~4x faster than `Price::parse_decimal`, which the
/// converter and replay call ten times per book line). `None` for anything else: the general
/// parser then decides (more decimals that are zeros, the int64 edges, errors).
fn plain_price(t: &str) -> Option<Price> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let mut mantissa: i64 = 0;
    let mut decimals: Option<u32> = None;
    for &c in digits {
        if c == b'.' && decimals.is_none() {
            decimals = Some(0);
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        if let Some(d) = decimals.as_mut() {
            *d += 1;
            if *d > 6 {
                return None;
            }
        }
        mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    let scale = 10i64.checked_pow(6 - decimals.unwrap_or(0))?;
    let mantissa = mantissa.checked_mul(scale)?;
    Some(Price(if negative { -mantissa } else { mantissa }))
}

fn boolean(v: Option<Value<'_>>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(b),
        _ => None,
    }
}

fn string(v: Option<Value<'_>>) -> Option<&str> {
    match v? {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn levels<T: Copy + Default>(
    v: Option<Value<'_>>,
    item: impl Fn(Option<Value<'_>>) -> Option<T>,
) -> Option<[T; LEVELS]> {
    let Value::Levels(inner) = v? else {
        return None;
    };
    // The cursor checked the array: LEVELS plain numbers, commas and JSON whitespace between.
    let mut c = Cursor {
        s: inner.as_bytes(),
        i: 0,
    };
    let mut out = [T::default(); LEVELS];
    for (k, o) in out.iter_mut().enumerate() {
        if k > 0 {
            c.eat(b',')?;
        }
        c.ws();
        *o = item(Some(c.number()?))?;
    }
    Some(out)
}

/// The message of a plain canonical-form line (trailing whitespace such as `\n` allowed), or
/// `None`: then the line is outside the fast path and the reference reader must judge it.
pub fn parse_line(line: &[u8]) -> Option<Message> {
    let f = fields(line)?;
    let kind = string(f[TYPE])?;
    let payload: &[usize] = match kind {
        "tick" => &TICK_FIELDS,
        "bidask" => &BIDASK_FIELDS,
        "snapshot" => &SNAPSHOT_FIELDS,
        "event" => &EVENT_FIELDS,
        _ => return None,
    };
    // Exactly the type's keys: as many present as the type has, and each of them present.
    let present = f.iter().filter(|v| v.is_some()).count();
    if present != HEAD.len() + payload.len() || payload.iter().any(|&k| f[k].is_none()) {
        return None;
    }
    let code = Code::new(string(f[CODE])?).ok()?;
    let seq = uint(f[SEQ])?;
    let exch_ts = int(f[EXCH_TS])?;
    let local_ts = int(f[LOCAL_TS])?;
    let msg = match kind {
        "tick" => Message::Tick(Tick {
            seq,
            exch_ts,
            local_ts,
            code,
            price: price(f[PRICE])?,
            volume: int(f[VOLUME])?,
            total_volume: int(f[TOTAL_VOLUME])?,
            tick_type: TickType::from_u8(u8::try_from(uint(f[TICK_TYPE])?).ok()?)?,
            simtrade: boolean(f[SIMTRADE])?,
        }),
        "bidask" => Message::BidAsk(BidAsk {
            seq,
            exch_ts,
            local_ts,
            code,
            bid_price: levels(f[BID_PRICE], price)?,
            bid_volume: levels(f[BID_VOLUME], int)?,
            ask_price: levels(f[ASK_PRICE], price)?,
            ask_volume: levels(f[ASK_VOLUME], int)?,
            simtrade: boolean(f[SIMTRADE])?,
        }),
        "snapshot" => Message::Snapshot(Snapshot {
            seq,
            exch_ts,
            local_ts,
            code,
            open: price(f[OPEN])?,
            high: price(f[HIGH])?,
            low: price(f[LOW])?,
            close: price(f[CLOSE])?,
            volume: int(f[VOLUME])?,
            total_volume: int(f[TOTAL_VOLUME])?,
            bid_price: price(f[BID_PRICE])?,
            bid_volume: int(f[BID_VOLUME])?,
            ask_price: price(f[ASK_PRICE])?,
            ask_volume: int(f[ASK_VOLUME])?,
        }),
        _ => Message::SystemEvent(SystemEvent {
            seq,
            exch_ts,
            local_ts,
            code,
            count: int(f[COUNT])?,
            kind: EventKind::from_record_name(string(f[EVENT])?)?,
            session_state: state_name(f[SESSION_STATE], SessionState::from_record_name)?,
            trading_state: state_name(f[TRADING_STATE], TradingState::from_record_name)?,
            reason: Reason::new(string(f[REASON])?).ok()?,
        }),
    };
    is_record(&msg).then_some(msg)
}

/// `null` -> the enum's "not given" value; a name -> its value ("" is not a name in JSONL).
fn state_name<T>(v: Option<Value<'_>>, from_name: fn(&str) -> Option<T>) -> Option<T> {
    match v? {
        Value::Null => from_name(""),
        Value::Str("") => None,
        Value::Str(s) => from_name(s),
        _ => None,
    }
}

/// The rules a record adds to what the SBE schema can carry (`record_from_dict`): a market
/// record names its instrument, and a state-change event says which state.
pub fn is_record(msg: &Message) -> bool {
    match msg {
        Message::SystemEvent(m) => match m.kind {
            EventKind::SessionState => m.session_state != SessionState::None,
            EventKind::TradingState => m.trading_state != TradingState::None,
            EventKind::FeedGap | EventKind::Reconnect => true,
        },
        _ => !msg.code().is_empty(),
    }
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Printable ASCII only (Code/Reason): `"` and `\` are the only bytes JSON escapes.
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

// Digits are written straight into the line (no `format!`, no allocation): the recorder turns
// every ring message into a line, and a book has twenty numbers. Same text as `Display` and
// `Price::to_decimal_string` (tests.rs checks both on edge values).
fn push_digits(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_int(out: &mut Vec<u8>, v: impl Into<i128>) {
    let v: i128 = v.into();
    if v < 0 {
        out.push(b'-');
    }
    push_digits(out, v.unsigned_abs() as u64);
}

fn push_price(out: &mut Vec<u8>, p: Price) {
    let m = p.mantissa();
    let abs = m.unsigned_abs();
    let scale = PRICE_SCALE as u64;
    if m < 0 {
        out.push(b'-');
    }
    push_digits(out, abs / scale);
    let mut frac = abs % scale;
    if frac != 0 {
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        let keep = 6 - digits.iter().rev().take_while(|&&d| d == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..keep]);
    }
}

fn push_list<T: Copy>(out: &mut Vec<u8>, items: &[T; LEVELS], each: fn(&mut Vec<u8>, T)) {
    out.push(b'[');
    for (i, &x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, x);
    }
    out.push(b']');
}

fn push_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn push_state(out: &mut Vec<u8>, name: &str) {
    if name.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        push_str(out, name);
    }
}

/// Appends the canonical JSONL line of `msg` (no newline): byte for byte what
/// `shijim.events.format_record` writes for the same record.
pub fn write_line(msg: &Message, out: &mut Vec<u8>) {
    let (kind, seq, exch_ts, local_ts, code) = match msg {
        Message::Tick(m) => ("tick", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::BidAsk(m) => ("bidask", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::Snapshot(m) => ("snapshot", m.seq, m.exch_ts, m.local_ts, m.code),
        Message::SystemEvent(m) => ("event", m.seq, m.exch_ts, m.local_ts, m.code),
    };
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    push_key(out, "code");
    push_str(out, code.as_str());
    push_key(out, "exch_ts");
    push_int(out, exch_ts);
    push_key(out, "local_ts");
    push_int(out, local_ts);
    push_key(out, "seq");
    push_int(out, seq);
    match msg {
        Message::Tick(m) => {
            push_key(out, "price");
            push_price(out, m.price);
            push_key(out, "volume");
            push_int(out, m.volume);
            push_key(out, "total_volume");
            push_int(out, m.total_volume);
            push_key(out, "tick_type");
            push_int(out, m.tick_type as u8);
            push_key(out, "simtrade");
            out.extend_from_slice(if m.simtrade { b"true" } else { b"false" });
        }
        Message::BidAsk(m) => {
            push_key(out, "bid_price");
            push_list(out, &m.bid_price, push_price);
            push_key(out, "bid_volume");
            push_list(out, &m.bid_volume, push_int);
            push_key(out, "ask_price");
            push_list(out, &m.ask_price, push_price);
            push_key(out, "ask_volume");
            push_list(out, &m.ask_volume, push_int);
            push_key(out, "simtrade");
            out.extend_from_slice(if m.simtrade { b"true" } else { b"false" });
        }
        Message::Snapshot(m) => {
            for (key, p) in [
                ("open", m.open),
                ("high", m.high),
                ("low", m.low),
                ("close", m.close),
            ] {
                push_key(out, key);
                push_price(out, p);
            }
            push_key(out, "volume");
            push_int(out, m.volume);
            push_key(out, "total_volume");
            push_int(out, m.total_volume);
            push_key(out, "bid_price");
            push_price(out, m.bid_price);
            push_key(out, "bid_volume");
            push_int(out, m.bid_volume);
            push_key(out, "ask_price");
            push_price(out, m.ask_price);
            push_key(out, "ask_volume");
            push_int(out, m.ask_volume);
        }
        Message::SystemEvent(m) => {
            push_key(out, "event");
            push_str(out, m.kind.record_name());
            push_key(out, "session_state");
            push_state(out, m.session_state.record_name());
            push_key(out, "trading_state");
            push_state(out, m.trading_state.record_name());
            push_key(out, "count");
            push_int(out, m.count);
            push_key(out, "reason");
            push_str(out, m.reason.as_str());
        }
    }
    out.push(b'}');
}

/// Whether a JSONL line is blank (the reader skips it): only the bytes Python's
/// `bytes.strip()` removes.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_keys() {
        for (i, key) in KEYS.iter().enumerate() {
            assert_eq!(slot_of(key), Some(i), "{key}");
        }
        assert_eq!(slot_of("Type"), None);
        assert_eq!(slot_of(""), None);
    }

    #[test]
    fn int_tokens_read_as_std_parses_them() {
        for t in [
            "0",
            "-0",
            "7",
            "-7",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "1795481097002780788",
        ] {
            assert_eq!(int_text(t), t.parse::<i64>().ok(), "{t}");
        }
    }

    #[test]
    fn levels_with_whitespace_read_as_without() {
        let tight = br#"{"type":"bidask","code":"TXFL6","exch_ts":1,"local_ts":2,"seq":3,"bid_price":[1.5,1,0.25,3,4],"bid_volume":[1,2,3,4,5],"ask_price":[5,6,7,8,9],"ask_volume":[1,2,3,4,5],"simtrade":false}"#;
        let loose = br#"{"type":"bidask","code":"TXFL6","exch_ts":1,"local_ts":2,"seq":3,"bid_price":[ 1.5 ,1,	0.25, 3 ,4 ],"bid_volume":[1 , 2,3,4,5],"ask_price":[5,6,7,8,9 ],"ask_volume":[ 1,2,3,4,5],"simtrade":false}"#;
        let a = parse_line(tight).expect("tight");
        let b = parse_line(loose).expect("loose");
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        // Four or six levels, or a string among them: not the fast path.
        for bad in [
            br#"[1,2,3,4]"#.as_slice(),
            br#"[1,2,3,4,5,6]"#.as_slice(),
            br#"[1,2,"3",4,5]"#.as_slice(),
            br#"[1,2,,4,5]"#.as_slice(),
        ] {
            let line = [
                br#"{"type":"bidask","code":"TXFL6","exch_ts":1,"local_ts":2,"seq":3,"bid_price":"#.as_slice(),
                bad,
                br#","bid_volume":[1,2,3,4,5],"ask_price":[5,6,7,8,9],"ask_volume":[1,2,3,4,5],"simtrade":false}"#.as_slice(),
            ]
            .concat();
            assert!(
                parse_line(&line).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    const TICK: &str = r#"{"type":"tick","code":"TXFL4","exch_ts":1,"local_ts":2,"seq":3,"price":22013.5,"volume":2,"total_volume":10,"tick_type":1,"simtrade":false}"#;
    const BIDASK: &str = r#"{"type":"bidask","code":"2330","exch_ts":-1,"local_ts":0,"seq":18446744073709551615,"bid_price":[592,591.5,0,0,0],"bid_volume":[1,2,0,0,0],"ask_price":[593,593.5,0,0,0.000001],"ask_volume":[3,4,0,0,-1],"simtrade":true}"#;
    const SNAPSHOT: &str = r#"{"type":"snapshot","code":"TXFL4","exch_ts":1,"local_ts":2,"seq":3,"open":1,"high":2,"low":-9223372036854.775808,"close":9223372036854.775807,"volume":5,"total_volume":6,"bid_price":1.5,"bid_volume":7,"ask_price":2.5,"ask_volume":8}"#;
    const EVENT: &str = r#"{"type":"event","code":"","exch_ts":1,"local_ts":2,"seq":3,"event":"trading_state","session_state":null,"trading_state":"HALTED","count":0,"reason":"kill switch"}"#;

    #[test]
    fn canonical_lines_round_trip_byte_for_byte() {
        for line in [TICK, BIDASK, SNAPSHOT, EVENT] {
            let msg = parse_line(line.as_bytes()).expect(line);
            let mut out = Vec::new();
            write_line(&msg, &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), line);
            let mut nl = line.as_bytes().to_vec();
            nl.extend_from_slice(b" \r\n");
            assert_eq!(parse_line(&nl), Some(msg));
        }
    }

    #[test]
    fn values() {
        let Some(Message::Tick(t)) = parse_line(TICK.as_bytes()) else {
            panic!("tick");
        };
        assert_eq!(t.price, Price(22_013_500_000));
        assert_eq!(t.tick_type, TickType::Buy);
        assert_eq!(t.code.as_str(), "TXFL4");
        let Some(Message::SystemEvent(e)) = parse_line(EVENT.as_bytes()) else {
            panic!("event");
        };
        assert_eq!(e.trading_state, TradingState::Halted);
        assert_eq!(e.session_state, SessionState::None);
    }

    #[test]
    fn non_canonical_forms_take_the_reference_path() {
        // Each is either accepted by the reference reader in another form or refused there.
        let cases = [
            TICK.replace("22013.5", "2.20135e4"),
            TICK.replace("22013.5", "22013.5000001"),
            TICK.replace("22013.5", "\"22013.5\""),
            TICK.replace("22013.5", "NaN"),
            TICK.replace("22013.5", "022013.5"),
            TICK.replace("22013.5", "22013."),
            TICK.replace("22013.5", "9223372036854.775808"),
            TICK.replace("\"volume\":2", "\"volume\":2.0"),
            TICK.replace("\"volume\":2", "\"volume\":9223372036854775808"),
            TICK.replace("\"seq\":3", "\"seq\":-1"),
            TICK.replace("\"tick_type\":1", "\"tick_type\":3"),
            TICK.replace("\"simtrade\":false", "\"simtrade\":0"),
            TICK.replace("TXFL4", "TX\\u0046L4"),
            TICK.replace("TXFL4", ""),
            TICK.replace("TXFL4", "TXFL4TXFL4TXFL4TX"),
            TICK.replace(",\"simtrade\":false", ""),
            TICK.replace("}", ",\"simtrade\":false}"),
            TICK.replace("}", ",\"extra\":1}"),
            TICK.replace("}", ",\"count\":1}"),
            TICK.replace("\"tick\"", "\"Tick\""),
            TICK[..TICK.len() - 1].to_string(),
            format!("{TICK}x"),
            format!("[{TICK}]"),
            BIDASK.replace("[592,", "[592,1,"),
            BIDASK.replace("[592,", "["),
            BIDASK.replace("[1,2,0,0,0]", "[1,2,0,0,0.5]"),
            EVENT.replace("\"HALTED\"", "null"),
            EVENT.replace("\"HALTED\"", "\"\""),
            EVENT.replace("null", "\"\""),
            EVENT.replace("kill switch", "é"),
            EVENT.replace("kill switch", "kill switch kill switch kill switch"),
            String::new(),
            "{}".into(),
        ];
        for line in &cases {
            assert_eq!(parse_line(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn negative_zero_and_quotes() {
        let line = TICK.replace("\"seq\":3", "\"seq\":-0");
        assert_eq!(parse_line(line.as_bytes()).map(|m| m.seq()), Some(0));
        let msg = parse_line(EVENT.as_bytes()).unwrap();
        let Message::SystemEvent(mut e) = msg else {
            panic!("event");
        };
        e.reason = Reason::new(r#"a"b\c"#).unwrap();
        let mut out = Vec::new();
        write_line(&Message::SystemEvent(e), &mut out);
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .ends_with(r#""reason":"a\"b\\c"}"#));
    }

    #[test]
    fn plain_prices_equal_the_general_parser() {
        let edge = [
            "0",
            "-0",
            "0.5",
            "-0.000001",
            "22013.5",
            "17500",
            "1.000000",
            "1.0000000",
            "1.0000001",
            "9223372036854.775807",
            "9223372036854.775808",
            "-9223372036854.775808",
            "-9223372036854.775809",
            "99999999999999999999",
            "1.",
            "100.05",
            "-0.05",
            "0.000100",
            "45.850000",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let random = (0..5000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let whole = (x >> 20) % 10u64.pow((x % 14) as u32 + 1);
            let frac = format!("{}", x % 10_000_000);
            let decimals = &frac[..(x >> 60) as usize % (frac.len() + 1)];
            let sign = if x & 1 == 1 { "-" } else { "" };
            if decimals.is_empty() {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{decimals}")
            }
        });
        for t in edge.iter().map(|s| s.to_string()).chain(random) {
            let fast = plain_price(&t);
            let general = Price::parse_decimal(&t).ok();
            assert!(
                fast.is_none() || fast == general,
                "{t}: {fast:?} vs {general:?}"
            );
            assert_eq!(price(Some(Value::Decimal(&t))), general, "{t}");
        }
        assert_eq!(plain_price("22013.5"), Some(Price(22_013_500_000)));
    }

    #[test]
    fn blank() {
        assert!(is_blank(b" \t\r\n\x0b\x0c"));
        assert!(is_blank(b""));
        assert!(!is_blank(b" x\n"));
    }

    #[test]
    fn digits_written_in_place_match_display_and_the_decimal_text() {
        let prices = [
            0,
            1,
            -1,
            5,
            10,
            999_999,
            1_000_000,
            -1_000_000,
            22_013_500_000,
            17_500_000_000,
            -123_456,
            100_000,
            120_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        for m in prices {
            let mut out = Vec::new();
            push_price(&mut out, Price(m));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                Price(m).to_decimal_string(),
                "{m}"
            );
        }
        for v in [
            0i64,
            7,
            -7,
            10,
            1_732_000_000_123_456_789,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            push_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        let mut out = Vec::new();
        push_int(&mut out, u64::MAX);
        assert_eq!(String::from_utf8(out).unwrap(), u64::MAX.to_string());
    }
}
