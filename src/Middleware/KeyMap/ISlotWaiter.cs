namespace PartitionedHosting.KeyMap;

/// <summary>Work that waits for a slot to move: resumed once, where the move ends, and must not block there.</summary>
internal interface ISlotWaiter
{
    /// <param name="entered">True when the slot can be entered again; false when the move took longer than allowed.</param>
    void Resume(bool entered);
}
