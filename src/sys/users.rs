//! Users: the ids this process runs as and their login names, and who besides its owner an
//! object's mode lets in (the warning of chapter 5 for another user's object).

/// The effective user id of this process, which the kernel checks permissions against.
pub(crate) fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The login name of a user id, from the user database (`getpwuid_r`); `None` when it has none.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// The login name of the user who runs this process (its real uid), for a name of their own to
/// suggest (`/lab-alice`): from the password database, which `su` and `setpriv` do not fool as
/// they do `$USER`; else `$USER` where it is set; else `uid1000`.
pub fn login_name() -> String {
    let uid = nix::unistd::getuid().as_raw();
    user_name(uid)
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| format!("uid{uid}"))
}

/// Who besides its owner a mode lets in, and to do what: `its group and every other user read
/// and write`, `its group read and every other user write`, `every other user read`; `None`
/// when the group and the others may neither read nor write.
pub(crate) fn others_access(mode: u32) -> Option<String> {
    let rights = |bits: u32| match (bits & 0o4 != 0, bits & 0o2 != 0) {
        (true, true) => Some("read and write"),
        (true, false) => Some("read"),
        (false, true) => Some("write"),
        (false, false) => None,
    };
    match (rights(mode >> 3), rights(mode)) {
        (Some(g), Some(o)) if g == o => Some(format!("its group and every other user {g}")),
        (Some(g), Some(o)) => Some(format!("its group {g} and every other user {o}")),
        (Some(g), None) => Some(format!("its group {g}")),
        (None, Some(o)) => Some(format!("every other user {o}")),
        (None, None) => None,
    }
}

/// The warning for an object that another user owns and has opened to others (chapter 5's
/// words): `queue /lab belongs to uid 1001, not to you (uid 1000), and its mode 0666 lets its
/// group and every other user read and write it: anyone can ...`, where what anyone can do is
/// `read_risk` when others may read, `write_risk` when they may write, or both. `None` for an
/// object of this user's own (`me` is the effective uid), or one closed to all but its owner.
pub(crate) fn exposure_warning(
    what: &str,
    owner: u32,
    mode: u32,
    me: u32,
    read_risk: &str,
    write_risk: &str,
) -> Option<String> {
    if owner == me {
        return None;
    }
    let who = others_access(mode)?;
    let risks: Vec<&str> = [(0o044, read_risk), (0o022, write_risk)]
        .into_iter()
        .filter(|(bits, _)| mode & bits != 0)
        .map(|(_, risk)| risk)
        .collect();
    Some(format!(
        "{what} belongs to uid {owner}, not to you (uid {me}), and its mode {:04o} lets {who} it: anyone can {}",
        mode & 0o777,
        risks.join(", and ")
    ))
}
